// The fulfillment page: the payment id comes in the URL fragment (never sent
// to a server in a URL) and goes to the shop in a request body.
const receipt = document.getElementById("receipt");
const status = document.getElementById("status");
const order = receipt.dataset.order;
const paymentId = new URLSearchParams(location.hash.slice(1)).get("payment_id");

function row(term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  receipt.append(dt, dd);
}

async function show() {
  if (!paymentId) {
    status.textContent = "This link carries no payment id: open it from your wallet's history.";
    status.className = "error";
    return;
  }
  const r = await fetch(`/shop/api/orders/${encodeURIComponent(order)}/goods`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ payment_id: paymentId }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    status.textContent = `No goods: ${body.message || r.statusText}`;
    status.className = "error";
    return;
  }
  const rc = body.receipt.body;
  document.getElementById("goods-title").textContent = body.title;
  document.getElementById("goods").textContent = body.goods;
  row("Amount", `${Math.floor(rc.amount.value / 100)}.${String(rc.amount.value % 100).padStart(2, "0")} ${rc.amount.currency}`);
  row("Transaction", rc.transaction_id);
  row("Date (unix)", String(rc.date));
  row("Payment", rc.payment_id);
  row("Shop signature", body.receipt.signature);
  status.textContent = "Paid. Here are your goods.";
}

show().catch((e) => {
  status.textContent = `No goods: ${e}`;
  status.className = "error";
});
