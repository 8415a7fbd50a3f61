"""kinema-micro: a micro bilingual text-to-video model trained from scratch on procedural clips."""
import os

# With GNU OpenMP's default (spinning) waits, two torch threads on a 2-core machine shared with
# other jobs slowed a training step from ~1.7 s to 10-19 s (measured); passive waits avoid that.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
