// Embeddable "Pay with Ecash" button and wallet panel for any web page.
//
//   <script type="module" src="https://WALLET-ORIGIN/embed/ecash-pay.js"></script>
//   <ecash-pay-button payreq="https://shop.example/api/orders/ID"></ecash-pay-button>
//   <ecash-wallet-panel></ecash-wallet-panel>
//
// The button is a link to the wallet with the payment request's URL in the
// fragment (never sent to a server): the wallet, on its own origin where the
// coins are, shows what is paid and to which site, pays, and sends the buyer
// back to the shop's fulfillment page. The panel shows the wallet in an
// iframe; the wallet's CSP lets only its own origin and the origins its
// operator lists (--frame-ancestor) frame it. The wallet origin defaults to
// where this script came from. Styles are constructed stylesheets, so a page
// with a strict CSP (no inline style) can embed these elements.
const scriptOrigin = new URL(import.meta.url).origin;

function walletOrigin(el) {
  const o = el.getAttribute("wallet") || scriptOrigin;
  try {
    const u = new URL(o);
    if (u.protocol === "https:" || (u.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname))) {
      return u.origin;
    }
  } catch (_) { /* refused below */ }
  return null;
}

function sheet(css) {
  const s = new CSSStyleSheet();
  s.replaceSync(css);
  return s;
}

const buttonStyle = sheet(`
  a { display:inline-block; padding:.6rem 1.1rem; border-radius:.35rem; background:#0b5d3b;
      color:#fff; font:600 1rem system-ui,sans-serif; text-decoration:none; }
  a:focus-visible { outline:3px solid #f0a202; outline-offset:2px; }`);
const panelStyle = sheet(`
  iframe { width:100%; max-width:40rem; border:1px solid #d5d7d2; border-radius:.5rem; }`);

function fail(root, text) {
  const s = document.createElement("span");
  s.setAttribute("role", "alert");
  s.textContent = text;
  root.replaceChildren(s);
}

class EcashPayButton extends HTMLElement {
  static observedAttributes = ["payreq", "wallet", "label"];
  connectedCallback() { this.render(); }
  attributeChangedCallback() { this.render(); }
  render() {
    const root = this.shadowRoot || this.attachShadow({ mode: "open" });
    root.adoptedStyleSheets = [buttonStyle];
    const payreq = this.getAttribute("payreq");
    const wallet = walletOrigin(this);
    if (!payreq) return fail(root, "ecash-pay-button: missing payreq attribute");
    if (!wallet) return fail(root, "ecash-pay-button: the wallet must be an https origin");
    const a = document.createElement("a");
    a.setAttribute("part", "button");
    a.href = `${wallet}/#${new URLSearchParams({ payreq })}`;
    a.textContent = this.getAttribute("label") || "Pay with Ecash";
    root.replaceChildren(a);
  }
}

class EcashWalletPanel extends HTMLElement {
  connectedCallback() {
    const root = this.shadowRoot || this.attachShadow({ mode: "open" });
    root.adoptedStyleSheets = [panelStyle];
    const wallet = walletOrigin(this);
    if (!wallet) return fail(root, "ecash-wallet-panel: the wallet must be an https origin");
    const f = document.createElement("iframe");
    f.setAttribute("part", "frame");
    f.title = "e-cash wallet";
    f.height = String(Number(this.getAttribute("height")) || 560);
    f.src = `${wallet}/`;
    root.replaceChildren(f);
  }
}

customElements.define("ecash-pay-button", EcashPayButton);
customElements.define("ecash-wallet-panel", EcashWalletPanel);
