// task.mjs's types, as a JavaScript task module's author would ship them.
export default function double(n: number): number;
