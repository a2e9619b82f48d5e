/** The shared capability cases (capability-cases.ts) through a wasi:http component and the wasi:* interfaces. */
import { fixtureComponent } from '../support/components.js';
import { runCapabilityCases } from './capability-cases.js';

runCapabilityCases('a wasi:http component (wasi:keyvalue, wasi:config, wasi:logging, wasi:http, spin:postgres, fermyon:spin/redis)', () => fixtureComponent('probe'));
