// decision-review pages: keyboard shortcuts and small conveniences. Everything works without this file.
//   /      focus the case search          j / k  next / previous case in the queue
//   Enter  open the selected case          c      claim the next case (queue page)
//   d      go to the decision form         ?      show or hide the list of shortcuts
// Shortcuts are off while typing in a field and when Ctrl, Alt or Meta is held.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function typing(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function rows() {
    var table = document.querySelector("table[data-queue]");
    return table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-row]")) : [];
  }

  var selected = -1;

  function select(index) {
    var all = rows();
    if (!all.length) return;
    index = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row, i) { row.classList.toggle("is-selected", i === index); });
    selected = index;
    var link = all[index].querySelector("a");
    if (link) link.focus();
    all[index].scrollIntoView({ block: "nearest" });
  }

  function toggleShortcuts(open) {
    var panel = document.getElementById("shortcuts");
    if (!panel) return;
    var show = open === undefined ? !panel.classList.contains("is-open") : open;
    panel.classList.toggle("is-open", show);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") { toggleShortcuts(false); return; }
    if (typing(event.target)) return;
    var key = event.key;
    if (key === "/") {
      var search = document.querySelector('[data-shortcut="/"]');
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (key === "?") {
      event.preventDefault();
      toggleShortcuts();
    } else if (key === "j" || key === "k") {
      if (!rows().length) return;
      event.preventDefault();
      var current = rows().indexOf(document.activeElement && document.activeElement.closest("tr"));
      var from = current >= 0 ? current : selected;
      select(from < 0 ? 0 : from + (key === "j" ? 1 : -1));
    } else if (key === "c") {
      var claim = document.getElementById("claim-next");
      if (claim) { event.preventDefault(); claim.requestSubmit(); }
    } else if (key === "d") {
      var form = document.getElementById("decision-form");
      if (form) {
        event.preventDefault();
        form.scrollIntoView({ block: "start" });
        var first = form.querySelector("input:not([type=hidden])");
        if (first) first.focus();
      }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("select[data-autosubmit]"), function (select) {
      select.addEventListener("change", function () { select.form.requestSubmit(); });
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    Array.prototype.forEach.call(document.querySelectorAll(".js-shortcuts"), function (link) {
      link.addEventListener("click", function (event) { event.preventDefault(); toggleShortcuts(); });
    });
  });
})();
