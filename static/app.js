// Conveniences only: every page works without this file.
// - forms with data-confirm ask before submitting;
// - buttons with data-copy copy the value of the element they name;
// - a chart's point with data-href opens it (the table beside the chart
//   has the same links);
// - a body with data-refresh="N" reloads every N seconds (pages showing a
//   running run), but not while the tab is hidden, a details element was
//   opened or a form field has the focus: the reader's place wins.
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

document.addEventListener("click", (event) => {
  const point = event.target.closest && event.target.closest("svg.chart [data-href]");
  if (point) window.location.assign(point.getAttribute("data-href"));
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest && event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) return;
  const text = source.value !== undefined ? source.value : source.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    source.select && source.select();
    document.execCommand && document.execCommand("copy");
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
});

(() => {
  const seconds = Number(document.body.getAttribute("data-refresh"));
  if (!seconds) return;
  const busy = () =>
    document.hidden ||
    document.querySelector("main details[open]") ||
    (document.activeElement && document.activeElement.matches("input, select, textarea"));
  const tick = () => {
    if (busy()) {
      setTimeout(tick, seconds * 1000);
    } else {
      window.location.reload();
    }
  };
  setTimeout(tick, seconds * 1000);
})();
