// The engine's worker entry: expose one in-process engine over comlink. Nothing else lives here.
import { exposeEngine } from '../src/worker';

exposeEngine();
