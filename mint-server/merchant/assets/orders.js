// The shop keeper's list of orders. The admin token comes in the URL
// fragment (never sent to a server in a URL) and goes in a header; it is
// kept for this tab only, so a reload still works.
import { money, when } from "./money.js";

const status = document.getElementById("status");
const table = document.getElementById("orders");
const summary = document.getElementById("summary");
const fromLink = new URLSearchParams(location.hash.slice(1)).get("key");
if (fromLink) {
  sessionStorage.setItem("shop-admin-token", fromLink);
  history.replaceState(null, "", location.pathname);
}
const token = sessionStorage.getItem("shop-admin-token");

const words = { open: "Waiting for payment", paying: "Payment at the bank", paid: "Paid", expired: "Expired" };

async function show() {
  if (!token) {
    status.textContent = "Open this page with the link the shop printed at start (it ends in #key=…).";
    status.className = "message error";
    return;
  }
  const r = await fetch("/api/admin/orders", { headers: { authorization: `Bearer ${token}` } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    status.textContent = `The shop refused: ${body.message || r.statusText}`;
    status.className = "message error";
    return;
  }
  const rows = body.orders.map((o) => {
    const tr = document.createElement("tr");
    tr.dataset.order = o.payreq_id;
    const cells = [
      when(o.created_at),
      o.title,
      money(o.amount),
      words[o.state] || o.state,
      o.paid_at ? when(o.paid_at) : "",
      o.payreq_id,
    ];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 2) td.className = "num";
      if (i === 3) td.className = `state state-${o.state}`;
      tr.append(td);
    });
    return tr;
  });
  table.querySelector("tbody").replaceChildren(...rows);
  const value = money({ value: body.paid_value, currency: body.orders[0]?.amount.currency || "" });
  summary.textContent = `${body.paid} order(s) paid, ${value} in all. Showing the newest ${rows.length}.`;
  status.textContent = "";
  status.className = "";
}

show().catch((e) => {
  status.textContent = `Could not load the orders: ${e}`;
  status.className = "message error";
});
