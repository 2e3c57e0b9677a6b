// The fulfillment page: the goods key comes in the URL fragment (never sent
// to a server in a URL) and goes to the shop in a request body. Goods are
// shown as what they are: text as text, an image as an image (an <img> of a
// data: URL, which runs no script), never as markup in this page.
import { money, row, when } from "./money.js";

const receipt = document.getElementById("receipt");
const status = document.getElementById("status");
const goods = document.getElementById("goods");
const order = receipt.dataset.order;
const fragment = new URLSearchParams(location.hash.slice(1));
// Links of payments made before goods keys carry the payment id.
const goodsKey = fragment.get("goods_key") || fragment.get("payment_id");

function fail(text) {
  status.textContent = text;
  status.className = "message error";
}

async function show() {
  if (!goodsKey) {
    fail("This link carries no goods key: open it from your wallet's history.");
    return;
  }
  const r = await fetch(`/api/orders/${encodeURIComponent(order)}/goods`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ goods_key: goodsKey }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    fail(`No goods: ${body.message || r.statusText}`);
    return;
  }
  document.getElementById("goods-title").textContent = body.title;
  if (body.kind === "svg_image") {
    const fig = document.createElement("figure");
    fig.className = "goods-image";
    const img = document.createElement("img");
    img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(body.goods);
    img.alt = body.title;
    const cap = document.createElement("figcaption");
    cap.textContent = `Your download: ${body.title}. Right-click the image to save it.`;
    fig.append(img, cap);
    goods.replaceChildren(fig);
  } else {
    const p = document.createElement("p");
    p.className = "goods-text";
    p.textContent = body.goods;
    goods.replaceChildren(p);
  }
  const rc = body.receipt.body;
  row(receipt, "Amount", money(rc.amount));
  row(receipt, "Order", rc.transaction_id);
  row(receipt, "Date", when(rc.date));
  row(receipt, "Payment", rc.payment_id);
  row(receipt, "Shop's signature", body.receipt.signature);
  status.textContent = "Paid. Here are your goods.";
  status.className = "message ok";
}

show().catch((e) => fail(`No goods: ${e}`));
