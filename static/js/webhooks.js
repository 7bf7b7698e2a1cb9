// The Webhooks panel: a user's endpoints (add, pause or resume, a new secret, delete)
// and each one's delivery log (redeliver). It uses page.js's window.videoproc (api, el,
// showStatus); every change goes through the /webhooks API a script would use.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);
  const { api, el, showStatus } = window.videoproc;

  let shown = null; // the endpoint whose deliveries are listed

  // A short word on screen; the name a screen reader says names the endpoint too.
  const linkButton = (text, name, onclick) =>
    el("button", { type: "button", class: "link-button", "aria-label": name, onclick }, text);

  // Every action says how it went in the panel's status line, refused or not.
  async function act(work) {
    try {
      showStatus($("#webhooks-status"), await work(), true);
    } catch (error) {
      showStatus($("#webhooks-status"), error.message, false);
    }
  }

  function showSecret(secret) {
    $("#webhook-secret").textContent = secret;
    $("#webhook-new").hidden = false;
  }

  async function refresh() {
    const endpoints = await api("GET", "/webhooks");
    $("#webhooks").replaceChildren(
      ...endpoints.map((endpoint) =>
        el(
          "li",
          {},
          el("code", {}, endpoint.url),
          ` ${endpoint.event_types.length ? endpoint.event_types.join(", ") : "all events"} `,
          endpoint.enabled ? null : el("strong", {}, `Paused: ${endpoint.disabled_reason} `),
          linkButton("Deliveries", `Deliveries to ${endpoint.url}`, () => showDeliveries(endpoint)),
          " ",
          endpoint.enabled
            ? linkButton("Pause", `Pause ${endpoint.url}`, () => act(() => setEnabled(endpoint, false)))
            : linkButton("Resume", `Resume ${endpoint.url}`, () => act(() => setEnabled(endpoint, true))),
          " ",
          linkButton("New secret", `New secret for ${endpoint.url}`, () => act(() => rotate(endpoint))),
          " ",
          linkButton("Delete", `Delete ${endpoint.url}`, () => act(() => remove(endpoint))),
        ),
      ),
    );
    $("#webhooks-empty").hidden = endpoints.length > 0;
  }

  async function add() {
    const eventTypes = [...document.querySelectorAll('input[name="webhook-event"]:checked')].map((box) => box.value);
    const endpoint = await api("POST", "/webhooks", { url: $("#webhook-url").value, event_types: eventTypes });
    showSecret(endpoint.secret);
    await refresh();
    return `Webhook to ${endpoint.url} added.`;
  }

  async function setEnabled(endpoint, enabled) {
    await api("PATCH", `/webhooks/${endpoint.id}`, { enabled });
    await refresh();
    return enabled
      ? `Webhook to ${endpoint.url} resumed: what waited for it is sent now.`
      : `Webhook to ${endpoint.url} paused: nothing is sent to it until it is resumed.`;
  }

  async function rotate(endpoint) {
    const rotated = await api("POST", `/webhooks/${endpoint.id}/secret`);
    showSecret(rotated.secret);
    return `New secret for ${endpoint.url}; the old one also signs until ${new Date(rotated.secret_rotating_until).toLocaleString()}.`;
  }

  async function remove(endpoint) {
    await api("DELETE", `/webhooks/${endpoint.id}`);
    $("#webhook-new").hidden = true;
    if (shown?.id === endpoint.id) $("#webhook-log").hidden = true;
    await refresh();
    return `Webhook to ${endpoint.url} deleted.`;
  }

  async function showDeliveries(endpoint) {
    shown = endpoint;
    const deliveries = await api("GET", `/webhooks/${endpoint.id}/deliveries?limit=20`);
    $("#webhook-log-title").textContent = `Deliveries to ${endpoint.url}`;
    $("#webhook-deliveries").replaceChildren(
      ...deliveries.map((delivery) =>
        el(
          "li",
          {},
          el("strong", {}, delivery.event_type),
          ` ${delivery.status}, ${delivery.attempts} ${delivery.attempts === 1 ? "try" : "tries"}`,
          delivery.response_status ? `, HTTP ${delivery.response_status}` : "",
          delivery.error ? ` (${delivery.error})` : "",
          delivery.next_try_at ? `, next try ${new Date(delivery.next_try_at).toLocaleString()} ` : " ",
          delivery.status === "pending"
            ? null
            : linkButton("Redeliver", `Redeliver ${delivery.event_type} ${delivery.id}`, () =>
                act(() => redeliver(endpoint, delivery)),
              ),
        ),
      ),
    );
    $("#webhook-log-empty").hidden = deliveries.length > 0;
    $("#webhook-log").hidden = false;
  }

  async function redeliver(endpoint, delivery) {
    await api("POST", `/webhooks/${endpoint.id}/deliveries/${delivery.id}/redeliver`);
    await showDeliveries(endpoint);
    return `${delivery.event_type} sent again.`;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#webhook-form").addEventListener("submit", (event) => {
      event.preventDefault();
      act(add);
    });
    refresh();
  });
})();
