"""kinema's model converter: checkpoint readers, our PyTorch modules of each family's components,
ONNX export and the `kinema-model/2` manifest writer. Runs on Debian's torch 1.13, onnx 1.12, numpy."""
