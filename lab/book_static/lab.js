// labbook: display equations wider than the text column are shrunk to fit it (down to 60 %),
// so a phone shows them whole; MathJax 3 does not break lines. lab/book_html.py adds this file.
(function () {
  function fit() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (m) {
      m.style.fontSize = "";
      var box = m.parentElement, need = m.scrollWidth, have = box.clientWidth;
      if (need > have + 1 && have > 0) {
        m.style.fontSize = Math.max(0.6, (have - 2) / need) * 100 + "%";
      }
    });
  }
  function whenTypeset() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(fit);
    } else {
      setTimeout(whenTypeset, 100);
    }
  }
  window.addEventListener("load", whenTypeset);
  window.addEventListener("resize", fit);
  window.labFitEquations = fit;
})();
