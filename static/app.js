// Conveniences only: every page works without this file.
// - forms with data-confirm ask before submitting;
// - buttons with data-copy copy the value of the element they name;
// - a chart's point with data-href opens it, in a new tab with Ctrl, Cmd
//   or Shift or the middle button (the table beside the chart has the same
//   links);
// - a table wider than its box (a narrow window, a high zoom) scrolls
//   inside it; the box then takes the focus, so that the keyboard can
//   scroll it, and is a region named after the table's caption;
// - a body with data-refresh="N" reloads every N seconds (pages showing a
//   running run), but not while the tab is hidden, a details element was
//   opened or a form field has the focus: the reader's place wins.
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

const chartPoint = (event) => event.target.closest && event.target.closest("svg.chart [data-href]");
document.addEventListener("click", (event) => {
  const point = chartPoint(event);
  if (!point) return;
  const href = point.getAttribute("data-href");
  if (event.ctrlKey || event.metaKey || event.shiftKey) {
    window.open(href, "_blank", "noopener");
  } else {
    window.location.assign(href);
  }
});
document.addEventListener("auxclick", (event) => {
  const point = event.button === 1 && chartPoint(event);
  if (!point) return;
  event.preventDefault();
  window.open(point.getAttribute("data-href"), "_blank", "noopener");
});

(() => {
  const boxes = document.querySelectorAll(".table-box");
  if (!boxes.length || !window.ResizeObserver) return;
  const mark = (box) => {
    const scrolls = box.scrollWidth > box.clientWidth + 1;
    if (scrolls && !box.hasAttribute("tabindex")) {
      const caption = box.querySelector("caption");
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", caption ? caption.textContent.trim() : "Table");
    } else if (!scrolls && box.getAttribute("role") === "region") {
      ["tabindex", "role", "aria-label"].forEach((name) => box.removeAttribute(name));
    }
  };
  const observer = new ResizeObserver((entries) => entries.forEach((entry) => mark(entry.target.closest(".table-box"))));
  boxes.forEach((box) => {
    observer.observe(box);
    const table = box.querySelector("table");
    if (table) observer.observe(table);
  });
  // A disclosure opened: the boxes inside it are laid out now.
  document.addEventListener("toggle", (event) => event.target.querySelectorAll && event.target.querySelectorAll(".table-box").forEach(mark), true);
})();

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
