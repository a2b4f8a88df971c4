// A TypeScript task module in the consumer's project.
interface Order {
  qty: number;
  price: number;
}
export default function total(o: Order): number {
  return o.qty * o.price;
}
