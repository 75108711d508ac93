// OKANE's pages work without this script; it adds dates in the reader's locale, live updates
// from the wallet's event stream, the recipient's name while typing, and one-click forms.
"use strict";

(function () {
  var dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function formatDates(root) {
    root.querySelectorAll("time[datetime]").forEach(function (element) {
      var moment = new Date(element.getAttribute("datetime"));
      if (!isNaN(moment.getTime())) {
        element.textContent = dateFormat.format(moment);
        element.title = moment.toISOString();
      }
    });
  }

  function announce(text) {
    var announcer = document.getElementById("announcer");
    if (announcer && text) {
      announcer.textContent = "";
      window.setTimeout(function () { announcer.textContent = text; }, 50);
    }
  }

  // A money-moving form is sent once per page view. The server does not rely on this: each
  // form carries an idempotency key, so a second submission could not pay twice anyway.
  function guardForms(root) {
    root.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.dataset.sent) {
          event.preventDefault();
          return;
        }
        form.dataset.sent = "1";
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          button.setAttribute("aria-busy", "true");
          button.classList.add("busy");
        });
      });
    });
  }

  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {  // back from the next page: the form may be used again
      document.querySelectorAll("form[data-once]").forEach(function (form) {
        delete form.dataset.sent;
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          button.removeAttribute("aria-busy");
          button.classList.remove("busy");
        });
      });
    }
  });

  // Regions marked data-live="URL" are fetched again whenever the wallet changes.
  var requests = 0;
  var applied = {};

  function refresh() {
    document.querySelectorAll("[data-live]").forEach(function (region, index) {
      var ticket = ++requests;
      fetch(region.getAttribute("data-live"), {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.text();
        })
        .then(function (html) {
          if ((applied[index] || 0) > ticket) { return; }  // a newer answer is already shown
          applied[index] = ticket;
          region.innerHTML = html;
          formatDates(region);
          var available = region.querySelector("#available");
          var status = region.querySelector("#receipt-status");
          if (available) { announce("Balance updated: " + available.textContent + " available"); }
          if (status) { announce("Status: " + status.textContent); }
        })
        .catch(function () { /* the next event, or a reload, brings the page up to date */ });
    });
  }

  function listen() {
    var url = document.body.getAttribute("data-events");
    if (!url || !window.EventSource) { return; }
    var known = Number(document.body.getAttribute("data-wallet-version") || "-1");
    var source = new EventSource(url);
    source.addEventListener("wallet", function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      if (typeof event.version === "number") {
        if (event.version <= known) { return; }  // the page already shows this version
        known = event.version;
      }
      refresh();
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  // The name behind a phone number or email, shown while typing (exact matches only).
  function looksComplete(value) {
    return /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value) || /^\+?[0-9][0-9 \-]{9,16}$/.test(value);
  }

  function recipientLookup(input) {
    var output = document.getElementById("recipient-name");
    var timer = null;
    var last = null;
    function lookup() {
      var value = input.value.trim();
      if (value === last || !output) { return; }
      last = value;
      output.textContent = "";
      output.className = "recipient";
      if (!looksComplete(value)) { return; }
      fetch(input.getAttribute("data-recipient-lookup") + "?to=" + encodeURIComponent(value), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.json().then(function (body) { return { ok: response.ok, body: body }; });
        })
        .then(function (answer) {
          if (input.value.trim() !== value) { return; }
          if (answer.ok) {
            output.textContent = "Paying " + answer.body.name;
            output.className = "recipient found";
          } else {
            output.textContent = answer.body.error || "Not found";
            output.className = "recipient missing";
          }
        })
        .catch(function () { /* the review step looks the name up again */ });
    }
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(lookup, 400);
    });
    input.addEventListener("change", lookup);
    if (input.value) { lookup(); }
  }

  function start() {
    formatDates(document);
    guardForms(document);
    document.querySelectorAll("input[data-recipient-lookup]").forEach(recipientLookup);
    listen();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
