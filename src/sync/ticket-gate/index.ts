// The ticket gate: the FIFO-fair permit counter under Semaphore and Mutex (gate.ts), and the
// sleeper that parks its waiters (sleeper.ts).
export { checkCount, GATE_BYTES, gateMax, initGate, MAX_COUNT, RING, TicketGate } from './gate.js';
