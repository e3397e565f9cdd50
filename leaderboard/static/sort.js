// Sortable tables for the leaderboard: click a header to sort by that column, click again to
// reverse. Cells carry their sort key in data-sort (numbers unformatted); an empty key is a
// missing score and always sorts last, whatever the direction. No dependencies, no inline code.
(function () {
  "use strict";

  function compare(a, b, numeric) {
    if (numeric) {
      return parseFloat(a) - parseFloat(b);
    }
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }

  function sortTable(table, column, direction) {
    var body = table.tBodies[0];
    var numeric = table.tHead.rows[0].cells[column].getAttribute("data-type") === "number";
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row, index) {
      var cell = row.cells[column];
      var key = cell ? (cell.getAttribute("data-sort") || "") : "";
      return { row: row, key: key, index: index };
    });
    keyed.sort(function (x, y) {
      if (x.key === "" || y.key === "") {
        if (x.key === y.key) { return x.index - y.index; }
        return x.key === "" ? 1 : -1;
      }
      var c = compare(x.key, y.key, numeric);
      if (c === 0) { return x.index - y.index; } // stable: ties keep their order
      return direction === "ascending" ? c : -c;
    });
    keyed.forEach(function (item) { body.appendChild(item.row); });
  }

  function setUp(table) {
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, column) {
      th.setAttribute("tabindex", "0");
      th.setAttribute("role", "columnheader button");
      function activate() {
        var next = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
        Array.prototype.forEach.call(headers, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", next);
        sortTable(table, column, next);
      }
      th.addEventListener("click", activate);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); activate(); }
      });
    });
    table.classList.add("sortable-ready");
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
