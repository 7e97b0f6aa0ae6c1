// envloop web: follow the conversation's server-sent events, and small form niceties.
// Every fragment arriving here was rendered and escaped by the server.
(function () {
  "use strict";

  function flash(text) {
    var box = document.getElementById("flash");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = !text;
  }

  function atBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  }

  function put(target, html, append) {
    var follow = atBottom();
    if (append) {
      var holder = document.createElement("div");
      holder.innerHTML = html;
      while (holder.firstChild) {
        var node = holder.firstChild;
        target.appendChild(node);
        if (node.nodeType === 1 && window.htmx) { window.htmx.process(node); }
      }
    } else {
      target.innerHTML = html;
      if (window.htmx) { window.htmx.process(target); }
    }
    if (follow) { window.scrollTo(0, document.body.scrollHeight); }
  }

  function follow(section) {
    var source = new EventSource(section.getAttribute("data-events"));
    var transcript = document.getElementById("transcript");
    var live = document.getElementById("live");
    var status = document.getElementById("status");
    source.addEventListener("live", function (e) {
      put(live, e.data, true);
      if (live.querySelector(".ends-stream")) {  // the reply is complete: its parts follow as fragments
        live.querySelectorAll(".reply-stream, .ends-stream").forEach(function (n) { n.remove(); });
      }
    });
    source.addEventListener("delta", function (e) {  // the model's reply as it is written: text, never HTML
      var box = live.querySelector(".reply-stream");
      if (!box) {
        box = document.createElement("pre");
        box.className = "reply-stream";
        live.appendChild(box);
      }
      var follow = atBottom();
      box.textContent += e.data;
      if (follow) { window.scrollTo(0, document.body.scrollHeight); }
    });
    source.addEventListener("transcript", function (e) {
      put(transcript, e.data, false);
      live.innerHTML = "";
    });
    source.addEventListener("status", function (e) {
      put(status, e.data, false);
      document.body.setAttribute("data-state", status.querySelector(".running") ? "running" : "idle");
    });
    source.addEventListener("open", function () { document.body.setAttribute("data-connected", "yes"); });
    source.addEventListener("error", function () { document.body.setAttribute("data-connected", "no"); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("[data-events]");
    if (section) { follow(section); }
    var area = document.querySelector("#ask textarea");
    if (area) {
      area.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          area.form.requestSubmit();
        }
      });
    }
  });

  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (e.detail.successful) {
      flash("");
      if (form && form.hasAttribute && form.hasAttribute("data-reset")) { form.reset(); }
    }
  });
  document.addEventListener("htmx:responseError", function (e) {
    flash(e.detail.xhr.responseText || ("Error " + e.detail.xhr.status));
  });
  document.addEventListener("htmx:sendError", function () { flash("The server cannot be reached."); });
})();
