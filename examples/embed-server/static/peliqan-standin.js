// A stand-in for Peliqan's embed script
// (https://peliqan.io/embed/v1.3/peliqan-integration.js), used when the
// example runs against the in-process fake and by the browser test: it is
// NOT Peliqan's widget. It implements the inferred Peliqan.initialize(options)
// call that peliqan.Widget renders, turns #peliqan-integration-button into a
// button, and on click "adds" a connection and calls options.onConnected.
//
// With ?autoconnect=1 on the page URL it clicks the button itself once the
// widget is ready, so a headless browser can run the whole flow unattended.

// decodeClaims reads the fake's JWT payload to show which sub-account the
// token opens (a real integration token is opaque to the page).
const decodeClaims = (token) => {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch (e) {
    return {};
  }
};

const Peliqan = {
  options: null,

  initialize(options) {
    this.options = options || {};
    const button = document.getElementById("peliqan-integration-button");
    if (!button) {
      throw new Error("peliqan stand-in: no #peliqan-integration-button");
    }
    const claims = decodeClaims(this.options.integrationToken || "");
    button.setAttribute("role", "button");
    button.tabIndex = 0;
    button.dataset.peliqanReady = "true";
    button.dataset.tokenReceived = this.options.integrationToken ? "yes" : "no";
    button.dataset.accountId = String(claims.account_id || "");
    button.addEventListener("click", () => this.openModal());
    document.documentElement.dataset.peliqanInitialized = "true";
    if (new URLSearchParams(location.search).has("autoconnect")) {
      setTimeout(() => button.click(), 0);
    }
  },

  openModal() {
    const opts = this.options;
    const list = opts.availableConnectors && opts.availableConnectors.length ? opts.availableConnectors : ["demo_connector"];
    const connector = opts.selectedConnector || list[0];
    const modal = document.createElement("div");
    modal.id = "peliqan-standin-modal";
    modal.setAttribute("role", "dialog");
    const title = document.createElement("h2");
    title.textContent = "Peliqan (stand-in): connected " + connector;
    const offered = document.createElement("p");
    offered.textContent = "Offered connectors: " + list.join(", ");
    modal.append(title, offered);
    (document.querySelector("main") || document.body).append(modal);
    const connection = {
      server_id: 1001,
      connector: connector,
      name: connector + " (demo)",
      health_status: "OK",
      account_id: Number(document.getElementById("peliqan-integration-button").dataset.accountId) || null
    };
    if (typeof opts.onConnected === "function") {
      opts.onConnected(connection);
    }
  }
};

globalThis.Peliqan = Peliqan;
