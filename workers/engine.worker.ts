// The engine's worker entry: expose one in-process engine over comlink. Nothing else lives here.
import * as Comlink from 'comlink';
import { createEngine } from '../src/engine/engine';
import { registerTransferHandlers } from '../src/transport/comlink-handlers';

registerTransferHandlers();
Comlink.expose(createEngine());
