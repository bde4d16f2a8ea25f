// Keyboard shortcuts, candidate switching, zoomable scan with field boxes, drag-and-drop upload.
// Plain JS on purpose: no build step, and every action still works as a normal form without it.
(function () {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  function typing(ev) {
    const el = ev.target;
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  // --- undo banner countdown -------------------------------------------------------------------------
  const undoForm = $("#undo-form");
  if (undoForm) {
    let left = parseInt(undoForm.dataset.seconds || "0", 10);
    const out = $("#undo-countdown");
    const timer = setInterval(() => {
      left -= 1;
      if (out) out.textContent = left + "s";
      if (left <= 0) { clearInterval(timer); undoForm.remove(); }
    }, 1000);
  }

  function submit(form, submitter) {
    if (!form) return;
    if (form.requestSubmit) form.requestSubmit(submitter || undefined); else form.submit();
  }

  // --- item page --------------------------------------------------------------------------------------
  const item = $("#item");
  if (item) {
    const editable = item.dataset.editable === "1";
    let selected = parseInt(item.dataset.selected || "1", 10);

    function selectCandidate(rank) {
      const tab = $(`.cand-tab[data-rank="${rank}"]`);
      if (!tab) return;
      selected = rank;
      $$(".cand-tab").forEach((t) => t.classList.toggle("on", t === tab));
      $$(".cand").forEach((c) => c.classList.toggle("on", c.dataset.rank === String(rank)));
      const rankInput = $("#decide-rank"), propInput = $("#decide-proposal"), parcel = $("#second-parcel");
      if (rankInput) rankInput.value = String(rank);
      if (propInput) propInput.value = tab.dataset.proposal || "";
      if (parcel) parcel.value = tab.dataset.parcel || "";
      $$("#accept-rank, #reject-rank").forEach((label) => { label.textContent = "#" + rank; });
      const params = new URLSearchParams(window.location.search);
      params.set("c", String(rank));
      history.replaceState(null, "", "?" + params.toString());
    }
    $$(".cand-tab").forEach((tab) => tab.addEventListener("click", (ev) => {
      ev.preventDefault();
      selectCandidate(parseInt(tab.dataset.rank, 10));
    }));

    // a low-confidence accept and "none of these" ask once more: the wrong decision should be the hard one
    const decideForm = $("#decide-form");
    if (decideForm) {
      decideForm.addEventListener("submit", (ev) => {
        const action = ev.submitter ? ev.submitter.value : "";
        const tab = $(`.cand-tab[data-rank="${selected}"]`);
        if (action === "accept" && tab && tab.dataset.risky === "1" && !confirm(item.dataset.confirmRisky)) {
          ev.preventDefault();
          return;
        }
        if (action === "none" && !confirm(item.dataset.confirmNone)) {
          ev.preventDefault();
          return;
        }
        $$("button", decideForm).forEach((b) => { b.disabled = true; });
        // a disabled submitter is not sent: carry the action in a hidden field
        const hidden = document.createElement("input");
        hidden.type = "hidden"; hidden.name = "action"; hidden.value = action;
        decideForm.appendChild(hidden);
      });
    }

    // --- scan viewer: zoom, pan, boxes ---
    let zoom = 1;
    const zoomLabel = $("#zoom-level");
    function currentDoc() { return $(".doc.on"); }
    function applyZoom() {
      $$(".stage").forEach((st) => { st.style.width = (zoom * 100).toFixed(0) + "%"; });
      if (zoomLabel) zoomLabel.textContent = Math.round(zoom * 100) + "%";
    }
    function setZoom(z) { zoom = Math.max(0.5, Math.min(6, z)); applyZoom(); }
    $$("[data-zoom]").forEach((b) => b.addEventListener("click", () => {
      const kind = b.dataset.zoom;
      setZoom(kind === "in" ? zoom * 1.25 : kind === "out" ? zoom / 1.25 : 1);
    }));
    $$(".canvas").forEach((canvas) => {
      canvas.addEventListener("wheel", (ev) => {
        if (!ev.ctrlKey) return;
        ev.preventDefault();
        setZoom(ev.deltaY < 0 ? zoom * 1.15 : zoom / 1.15);
      }, { passive: false });
      let drag = null;
      canvas.addEventListener("mousedown", (ev) => {
        drag = { x: ev.clientX, y: ev.clientY, left: canvas.scrollLeft, top: canvas.scrollTop };
        canvas.classList.add("dragging");
      });
      window.addEventListener("mouseup", () => { drag = null; canvas.classList.remove("dragging"); });
      canvas.addEventListener("mousemove", (ev) => {
        if (!drag) return;
        canvas.scrollLeft = drag.left - (ev.clientX - drag.x);
        canvas.scrollTop = drag.top - (ev.clientY - drag.y);
      });
    });
    $$(".stage img").forEach((img) => {
      const fit = () => {
        const svg = img.parentElement.querySelector("svg.boxes");
        if (svg && img.naturalWidth) svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
      };
      if (img.complete) fit(); else img.addEventListener("load", fit);
    });
    const showBoxes = $("#show-boxes");
    if (showBoxes) showBoxes.addEventListener("change", () => $(".viewer").classList.toggle("noboxes", !showBoxes.checked));

    function showDoc(id) {
      $$(".doc-tab").forEach((t) => t.classList.toggle("on", t.dataset.doc === String(id)));
      $$(".doc").forEach((d) => d.classList.toggle("on", d.dataset.doc === String(id)));
    }
    $$(".doc-tab").forEach((t) => t.addEventListener("click", () => showDoc(t.dataset.doc)));
    function nextDoc() {
      const tabs = $$(".doc-tab");
      if (tabs.length < 2) return;
      const i = tabs.findIndex((t) => t.classList.contains("on"));
      showDoc(tabs[(i + 1) % tabs.length].dataset.doc);
    }

    // clicking a comparison row (or a field read) outlines where that value was read on the scan
    function outline(row) {
      $$("tr.focus").forEach((r) => r.classList.remove("focus"));
      row.classList.add("focus");
      $$("svg.boxes rect.focus").forEach((r) => r.classList.remove("focus"));
      const rects = (row.dataset.boxes || "").split(" ").filter(Boolean)
        .map((id) => document.getElementById(id)).filter(Boolean);
      if (!rects.length) return;
      const doc = rects[0].closest(".doc");
      if (doc) showDoc(doc.dataset.doc);
      const shown = rects.filter((r) => r.closest(".doc") === doc);
      shown.forEach((r) => r.classList.add("focus"));
      const canvas = shown[0].closest(".canvas"), img = shown[0].closest(".stage").querySelector("img");
      if (canvas && img && img.naturalWidth) {
        const scale = img.clientWidth / img.naturalWidth;
        const x = parseFloat(shown[0].getAttribute("x")) * scale, y = parseFloat(shown[0].getAttribute("y")) * scale;
        canvas.scrollTo({ left: Math.max(0, x - 40), top: Math.max(0, y - canvas.clientHeight / 3), behavior: "smooth" });
      }
    }
    $$("table.compare tr[data-field], details.extracted tr[data-boxes]").forEach((row) => row.addEventListener("click", (ev) => {
      if (ev.target.closest("details.fix, form, a, button, input")) return;
      outline(row);
    }));

    const help = $("#help");
    const helpToggle = $("#help-toggle");
    if (helpToggle) helpToggle.addEventListener("click", () => { help.hidden = !help.hidden; });

    document.addEventListener("keydown", (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev)) return;
      const k = ev.key;
      if (k >= "1" && k <= "9") { selectCandidate(parseInt(k, 10)); ev.preventDefault(); return; }
      switch (k.toLowerCase()) {
        case "a": case "r": case "n": {
          const button = $({ a: "#btn-accept", r: "#btn-reject", n: "#btn-none" }[k.toLowerCase()]);
          if (editable && button && !button.disabled) { submit(decideForm, button); ev.preventDefault(); }
          break;
        }
        case "j": submit($("#next-form")); ev.preventDefault(); break;
        case "k": { const a = $("#prev-link"); if (a) { window.location.href = a.href; ev.preventDefault(); } break; }
        case "u": if (undoForm) { submit(undoForm); ev.preventDefault(); } break;
        case "c": { const n = $("#note-input"); if (n) { n.focus(); ev.preventDefault(); } break; }
        case "s": {
          const box = $("#registry-search"), q = $("#registry-q");
          if (box && q) { box.open = true; q.focus(); q.select(); ev.preventDefault(); }
          break;
        }
        case "d": nextDoc(); ev.preventDefault(); break;
        case "+": case "=": setZoom(zoom * 1.25); ev.preventDefault(); break;
        case "-": setZoom(zoom / 1.25); ev.preventDefault(); break;
        case "0": setZoom(1); ev.preventDefault(); break;
        case "?": if (help) help.hidden = !help.hidden; ev.preventDefault(); break;
        case "escape": if (help) help.hidden = true; break;
      }
    });
  } else if (["queue", "exceptions", "second-review"].includes(document.body.dataset.page)) {
    document.addEventListener("keydown", (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev)) return;
      if (ev.key.toLowerCase() === "j") { submit($("#next-form")); ev.preventDefault(); }
      if (ev.key.toLowerCase() === "u" && undoForm) { submit(undoForm); ev.preventDefault(); }
    });
  }

  // --- status page: refresh while the worker is still on something ---------------------------------------
  if (document.body.dataset.page === "jobs" && $('tr[data-state="waiting"], tr[data-state="processing"]')) {
    setTimeout(() => window.location.reload(), 10000);
  }

  // --- upload: drag and drop into the file input ------------------------------------------------------
  const zone = $("#dropzone"), input = $("#files"), list = $("#file-list");
  if (zone && input) {
    const show = () => {
      list.textContent = "";
      Array.from(input.files).forEach((f) => {
        const li = document.createElement("li");
        li.textContent = `${f.name} (${Math.ceil(f.size / 1024)} KB)`;
        list.appendChild(li);
      });
    };
    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (ev) => { ev.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      const dt = new DataTransfer();
      Array.from(input.files).forEach((f) => dt.items.add(f));
      Array.from(ev.dataTransfer.files).forEach((f) => dt.items.add(f));
      input.files = dt.files;
      show();
    });
    const form = $("#upload-form");
    form.addEventListener("submit", () => { const b = $("#upload-submit"); if (b) b.disabled = true; });
  }
})();
