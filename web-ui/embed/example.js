// The example page's own script: order a sticker at the demo shop, then
// offer it with an <ecash-pay-button>.
const r = await fetch("/shop/api/orders", {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ item_id: "sticker" }),
});
const buy = document.getElementById("buy");
if (!r.ok) {
  buy.textContent = "The shop did not create an order: " + (await r.text());
} else {
  const payreq = await r.json();
  const btn = document.createElement("ecash-pay-button");
  btn.setAttribute("payreq", `${location.origin}/shop/api/orders/${payreq.payreq_id}`);
  buy.replaceChildren(`${payreq.description}: ${(payreq.amount.value / 100).toFixed(2)} ${payreq.amount.currency} `, btn);
}
