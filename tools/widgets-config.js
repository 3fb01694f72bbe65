// Loaded between require.js and the ipywidgets HTML manager on pages with widgets (nb_ipywidgets_js in
// _config.yml; copied by `make vendor` to _static/vendor/html-manager/widgets-config.js).

// 1. The manager's modules ("@jupyter-widgets/controls", "@jupyter-widgets/html-manager/dist/...") find the files
// they load later (icon fonts) beside the URL that require.js makes from their name: point those names at the
// book's copy of the package, so nothing is looked for beside the page or on a CDN.
(function () {
  const manager = new URL(
    (document.documentElement.dataset.content_root || "") + "_static/vendor/html-manager", document.baseURI).href;
  require.config({ paths: { "@jupyter-widgets/html-manager/dist": manager, "@jupyter-widgets": manager } });
})();

// 2. Widget labels are typeset with MathJax 2's call, MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the
// book loads MathJax 3, which has no Hub. MathJax 3 (a deferred script) has made its global object by
// DOMContentLoaded, and the manager renders on window load, after it: give that object the one call, done the
// MathJax 3 way.
document.addEventListener("DOMContentLoaded", function () {
  const mathjax = window.MathJax;
  if (mathjax && mathjax.startup && !mathjax.Hub) {
    mathjax.Hub = {
      Queue: function (job) {
        mathjax.startup.promise.then(function () { return mathjax.typesetPromise([job[2]]); });
      },
    };
  }
});
