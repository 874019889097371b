/* The YAML view beside the canvas: CodeMirror 5 (vendored, YAML mode, line numbers) over the textarea, which keeps
 * the text at all times (so the page works, and can be tested, the same with or without the editor). Edits from the
 * canvas show here as they are saved; what is typed here is applied with "Apply YAML". */
export function yamlView(ta, onTyped) {
  const CM = window.CodeMirror;
  if (!CM) {
    ta.addEventListener("input", () => { ta.dataset.dirty = "1"; onTyped(); });
    return {
      show(text) { if (!ta.dataset.dirty) ta.value = text; },
      text() { return ta.value; },
      toLine(at, total) { ta.scrollTop = Math.max(0, at - 3) * (ta.scrollHeight / Math.max(1, total)); },
      refresh() {},
    };
  }
  const cm = CM.fromTextArea(ta, { mode: "yaml", lineNumbers: true, indentUnit: 2, tabSize: 2, lineWrapping: false,
    extraKeys: { Tab: (ed) => ed.replaceSelection("  ") }, viewportMargin: 50 });
  cm.getWrapperElement().classList.add("d-yaml-cm");
  cm.on("change", (_ed, change) => {
    if (change.origin === "setValue") return;
    ta.dataset.dirty = "1";
    cm.save();
    onTyped();
  });
  return {
    show(text) {
      if (ta.dataset.dirty) return;
      ta.value = text;
      if (cm.getValue() === text) return;
      const at = cm.getScrollInfo();
      cm.setValue(text);
      cm.scrollTo(at.left, at.top);
    },
    text() { cm.save(); return cm.getValue(); },
    toLine(at) { cm.scrollIntoView({ line: Math.max(0, at), ch: 0 }, 80); },
    refresh() { cm.refresh(); },
  };
}
