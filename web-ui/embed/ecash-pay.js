// Embeddable "Pay with Ecash" button and wallet panel for any web page.
//
//   <script type="module" src="https://WALLET-ORIGIN/embed/ecash-pay.js"></script>
//   <ecash-pay-button payreq="https://shop.example/shop/api/orders/ID"></ecash-pay-button>
//   <ecash-wallet-panel></ecash-wallet-panel>
//
// The button is a link to the wallet with the payment request in the URL: the
// wallet (on its own origin, where the coins are) shows what is paid, pays,
// and sends the buyer back to the shop's fulfillment page. The panel shows the
// wallet in an iframe. The wallet origin defaults to where this script came from.
const scriptOrigin = new URL(import.meta.url).origin;

function walletOrigin(el) {
  return (el.getAttribute("wallet") || scriptOrigin).replace(/\/$/, "");
}

class EcashPayButton extends HTMLElement {
  static observedAttributes = ["payreq", "wallet", "label"];
  connectedCallback() { this.render(); }
  attributeChangedCallback() { this.render(); }
  render() {
    const payreq = this.getAttribute("payreq");
    const root = this.shadowRoot || this.attachShadow({ mode: "open" });
    if (!payreq) {
      root.innerHTML = `<span role="alert">ecash-pay-button: missing payreq attribute</span>`;
      return;
    }
    const href = `${walletOrigin(this)}/?payreq=${encodeURIComponent(payreq)}`;
    const label = this.getAttribute("label") || "Pay with Ecash";
    root.innerHTML = `<style>
        a { display:inline-block; padding:.6rem 1.1rem; border-radius:.35rem; background:#0b5d3b;
            color:#fff; font:600 1rem system-ui,sans-serif; text-decoration:none; }
        a:focus-visible { outline:3px solid #f0a202; outline-offset:2px; }
      </style><a part="button" href="${href}"></a>`;
    root.querySelector("a").textContent = label;
  }
}

class EcashWalletPanel extends HTMLElement {
  connectedCallback() {
    const root = this.shadowRoot || this.attachShadow({ mode: "open" });
    const h = this.getAttribute("height") || "560";
    root.innerHTML = `<iframe part="frame" title="e-cash wallet" style="width:100%;max-width:40rem;height:${Number(h) || 560}px;border:1px solid #d5d7d2;border-radius:.5rem"></iframe>`;
    root.querySelector("iframe").src = `${walletOrigin(this)}/`;
  }
}

customElements.define("ecash-pay-button", EcashPayButton);
customElements.define("ecash-wallet-panel", EcashWalletPanel);
