// The example page's own script: order a sticker at the demo shop (its
// origin from this page's fragment, `#shop=http://127.0.0.1:8081` by
// default), then offer it with an <ecash-pay-button>. The shop takes orders
// from this page's origin only because its operator named it
// (`merchant --order-origin`).
const named = new URLSearchParams(location.hash.slice(1)).get("shop") || "http://127.0.0.1:8081";
const buy = document.getElementById("buy");
let shop = null;
try {
  const u = new URL(named);
  if (u.protocol === "https:" || u.protocol === "http:") shop = u.origin;
} catch (_) { /* refused below */ }
if (!shop) {
  buy.textContent = "The shop address in this page's link is not an http(s) origin.";
} else {
  const r = await fetch(`${shop}/api/orders`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ item_id: "sticker" }),
  });
  if (!r.ok) {
    buy.textContent = "The shop did not create an order: " + (await r.text());
  } else {
    const payreq = await r.json();
    const btn = document.createElement("ecash-pay-button");
    btn.setAttribute("payreq", `${shop}/api/orders/${encodeURIComponent(payreq.payreq_id)}`);
    buy.replaceChildren(`${payreq.description}: ${(payreq.amount.value / 100).toFixed(2)} ${payreq.amount.currency} `, btn);
  }
}
