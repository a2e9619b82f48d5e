/** The shared capability cases (capability-cases.ts) through a WAGI guest and verge:v1. */
import { capabilityProbe } from '../support/capability-guests.js';
import { runCapabilityCases } from './capability-cases.js';

runCapabilityCases('a WAGI guest (verge:v1)', capabilityProbe);
