// A little JavaScript: repeatable fields, the kecamatan -> desa picker, and the live timeline.
(function () {
  "use strict";

  document.querySelectorAll("fieldset.repeat").forEach(function (set) {
    set.addEventListener("click", function (event) {
      var target = event.target;
      if (target.classList.contains("add")) {
        var rows = set.querySelectorAll(".row");
        var copy = rows[rows.length - 1].cloneNode(true);
        var input = copy.querySelector("input");
        var label = copy.querySelector("label");
        var n = rows.length + 1;
        input.value = "";
        input.id = set.dataset.field + "-" + n;
        label.htmlFor = input.id;
        label.textContent = label.textContent.replace(/\d+$/, n);
        var remove = copy.querySelector("button.remove");
        remove.setAttribute("aria-label", remove.getAttribute("aria-label").replace(/\d+$/, n));
        target.before(copy);
        input.focus();
      } else if (target.classList.contains("remove")) {
        var row = target.closest(".row");
        if (set.querySelectorAll(".row").length > 1) { row.remove(); } else { row.querySelector("input").value = ""; }
      }
    });
  });

  var dataNode = document.getElementById("wilayah-data");
  var kecamatan = document.getElementById("kecamatan");
  var desa = document.getElementById("desa");
  if (dataNode && kecamatan && desa) {
    var wilayah = JSON.parse(dataNode.textContent);
    var fill = function () {
      var keep = desa.dataset.selected || desa.value;
      var first = desa.options[0];
      desa.replaceChildren(first);
      (wilayah[kecamatan.value] || []).forEach(function (name) {
        var option = new Option(name, name, false, name === keep);
        desa.add(option);
      });
      desa.dataset.selected = "";
    };
    kecamatan.addEventListener("change", fill);
    fill();
  }

  var live = document.querySelector("[data-src]");
  if (live) {
    var refresh = function () {
      fetch(live.dataset.src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) { if (html !== null && html !== live.innerHTML) { live.innerHTML = html; } })
        .catch(function () {})
        .finally(function () { setTimeout(refresh, 1500); });
    };
    setTimeout(refresh, 1000);
  }
})();
