/* salesmining report glue (Apache-2.0): pan and zoom of the maps (svg-pan-zoom), hover for the
   numbers behind a node or an edge, and clicking a finding highlights its places on the maps and
   lists its example cases. Everything it shows comes from the JSON block of each map, read with
   JSON.parse and written with textContent (never as HTML). Without JavaScript the maps stay
   plain, complete SVG. */
(function () {
  "use strict";
  if (window.salesminingInit) { window.salesminingInit(); return; }

  function nodeKey(g) {
    // maps with ids: <g id="<node_id>" class="node sm-node">; Graphviz's default: <title>NODE_ID</title>
    if (g.id && !/^node\d+$/.test(g.id)) return g.id;
    var t = g.querySelector("title");
    return t ? t.textContent.trim() : null;
  }

  function edgeKey(g) {
    var m = /^e-([^-]+)-([^-]+)$/.exec(g.id || "");
    if (m) return m[1] + "->" + m[2];
    var t = g.querySelector("title");
    return t ? t.textContent.trim() : null;
  }

  function tooltipOf(g) {
    // the map's own tooltip (xlink:title of its link) is kept, and removed from the link so that
    // the browser does not show a second, native one
    var a = g.querySelector("a");
    var text = null;
    if (a) {
      text = a.getAttributeNS("http://www.w3.org/1999/xlink", "title") || a.getAttribute("title");
      a.removeAttributeNS("http://www.w3.org/1999/xlink", "title");
      a.removeAttribute("title");
    }
    return text;
  }

  function setup(box) {
    var source = box.querySelector(".sm-map-data");
    var view = box.querySelector(".sm-map-view");
    var original = view && view.querySelector("svg");
    if (!source || !original || typeof window.svgPanZoom !== "function") return;
    var data = JSON.parse(source.textContent);
    var svg = original.cloneNode(true);
    svg.classList.add("sm-live-svg");
    original.classList.add("sm-static-svg");
    view.appendChild(svg);
    box.classList.add("sm-live");

    var tip = box.querySelector(".sm-tip");
    var byKey = {};
    var gs = svg.querySelectorAll("g.node, g.edge");
    for (var i = 0; i < gs.length; i++) {
      var g = gs[i];
      var isEdge = g.classList.contains("edge");
      var key = isEdge ? edgeKey(g) : nodeKey(g);
      if (!key) continue;
      var own = tooltipOf(g);
      var t = g.querySelector("title");
      if (t) t.parentNode.removeChild(t); // the raw id would be the browser's tooltip
      var text = (isEdge ? data.edges[key] : data.nodes[key]) || own;
      g.setAttribute("data-sm-key", key);
      if (text) g.setAttribute("data-sm-tip", text);
      (byKey[key] = byKey[key] || []).push(g);
    }

    var width = view.clientWidth || 800;
    var vb = original.viewBox && original.viewBox.baseVal;
    var ratio = vb && vb.width ? vb.height / vb.width : 0.5;
    // the map at the box's full width, as its layout was chosen for (text >= 10 px at a report's
    // width): never squeezed to the window's height; the page scrolls, Ctrl + scroll zooms
    var height = Math.max(240, Math.min(width * ratio, width * 3));
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.style.width = "100%";
    svg.style.height = Math.round(height) + "px";
    var pz = window.svgPanZoom(svg, {
      zoomEnabled: true, mouseWheelZoomEnabled: false, dblClickZoomEnabled: true,
      controlIconsEnabled: false, fit: true, center: true, minZoom: 0.5, maxZoom: 20
    });
    box.smPanZoom = pz;

    svg.addEventListener("wheel", function (e) {
      if (!(e.ctrlKey || e.metaKey)) return; // plain scrolling scrolls the page
      e.preventDefault();
      var r = svg.getBoundingClientRect();
      pz.zoomAtPointBy(e.deltaY < 0 ? 1.25 : 0.8, { x: e.clientX - r.left, y: e.clientY - r.top });
    }, { passive: false });
    var buttons = box.querySelectorAll("[data-sm-zoom]");
    for (var b = 0; b < buttons.length; b++) {
      buttons[b].addEventListener("click", function (e) {
        var what = e.currentTarget.getAttribute("data-sm-zoom");
        if (what === "in") pz.zoomIn(); else if (what === "out") pz.zoomOut(); else { pz.resetZoom(); pz.resetPan(); }
      });
    }

    svg.addEventListener("mousemove", function (e) {
      var g = e.target.closest ? e.target.closest("[data-sm-tip]") : null;
      if (!g || !tip) { if (tip) tip.hidden = true; return; }
      tip.textContent = g.getAttribute("data-sm-tip");
      tip.hidden = false;
      var r = box.getBoundingClientRect();
      var x = e.clientX - r.left + 14, y = e.clientY - r.top + 14;
      if (x + tip.offsetWidth > r.width) x = Math.max(0, r.width - tip.offsetWidth - 4);
      tip.style.left = x + "px";
      tip.style.top = y + "px";
    });
    svg.addEventListener("mouseleave", function () { if (tip) tip.hidden = true; });

    box.smHighlight = function (rank) {
      var hl = svg.querySelectorAll(".sm-hl");
      for (var h = 0; h < hl.length; h++) hl[h].classList.remove("sm-hl");
      svg.classList.remove("sm-dimmed");
      var focus = box.querySelector(".sm-focus");
      if (rank === null) { if (focus) focus.hidden = true; return 0; }
      var f = null;
      for (var k = 0; k < data.findings.length; k++) if (String(data.findings[k].rank) === String(rank)) f = data.findings[k];
      if (!f) return 0;
      var keys = f.nodes.concat(f.edges), found = 0, missingEdge = false;
      for (var q = 0; q < keys.length; q++) {
        var els = byKey[keys[q]] || [];
        if (!els.length && f.edges.indexOf(keys[q]) >= 0) missingEdge = true;
        for (var e2 = 0; e2 < els.length; e2++) { els[e2].classList.add("sm-hl"); found++; }
      }
      if (found) { svg.classList.add("sm-dimmed"); focusOn(pz, svg, keys, byKey); }
      if (focus) {
        focus.querySelector(".sm-focus-title").textContent = "#" + f.rank + " · " + f.title;
        focus.querySelector(".sm-focus-note").textContent = !found ?
          " (its place is not drawn on this map: hidden by the abstraction)" : missingEdge ?
          " (the transition itself is not drawn on this map, hidden by the abstraction: its two ends are marked)" : "";
        var list = focus.querySelector(".sm-focus-cases");
        list.textContent = "";
        for (var c = 0; c < f.cases.length; c++) {
          var li = document.createElement("li");
          li.textContent = f.cases[c];
          list.appendChild(li);
        }
        focus.hidden = false;
      }
      return found;
    };
    var close = box.querySelector(".sm-focus-close");
    if (close) close.addEventListener("click", function () { highlightAll(box.smRoot, null); });
  }

  function focusOn(pz, svg, keys, byKey) {
    // zoom so that the finding's places fill about half of the map, centred. Positions are taken
    // in the map's own coordinates (element relative to the pan-zoom viewport), which do not
    // depend on the current zoom: svg-pan-zoom applies its transform on the next frame only.
    var viewport = svg.querySelector(".svg-pan-zoom_viewport");
    if (!viewport || !viewport.getCTM()) return;
    var inv = viewport.getCTM().inverse();
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (var q = 0; q < keys.length; q++) {
      var els = byKey[keys[q]] || [];
      for (var i = 0; i < els.length; i++) {
        var b = els[i].getBBox(), m = els[i].getCTM();
        if (!m || (!b.width && !b.height)) continue;
        m = inv.multiply(m);
        var corners = [[b.x, b.y], [b.x + b.width, b.y], [b.x, b.y + b.height], [b.x + b.width, b.y + b.height]];
        for (var c = 0; c < 4; c++) {
          var px = m.a * corners[c][0] + m.c * corners[c][1] + m.e, py = m.b * corners[c][0] + m.d * corners[c][1] + m.f;
          x0 = Math.min(x0, px); y0 = Math.min(y0, py); x1 = Math.max(x1, px); y1 = Math.max(y1, py);
        }
      }
    }
    var sizes = pz.getSizes();
    if (!isFinite(x0) || !sizes.width) return;
    var fit = sizes.realZoom / pz.getZoom(); // the scale of the whole map fitted in its box
    var real = Math.min(sizes.width / Math.max(x1 - x0, 1), sizes.height / Math.max(y1 - y0, 1)) * 0.5;
    real = Math.max(fit, Math.min(real, fit * 8));
    pz.zoom(real / fit);
    pz.pan({ x: sizes.width / 2 - real * (x0 + x1) / 2, y: sizes.height / 2 - real * (y0 + y1) / 2 });
  }

  function rootOf(el) { return (el.closest && el.closest(".sm-root")) || document; }

  function highlightAll(root, rank) {
    var boxes = root.querySelectorAll(".sm-map.sm-live");
    var mark = root.querySelectorAll("[data-sm-finding].sm-selected");
    for (var m = 0; m < mark.length; m++) mark[m].classList.remove("sm-selected");
    if (rank !== null) {
      var sel = root.querySelectorAll('[data-sm-finding="' + String(rank).replace(/[^0-9]/g, "") + '"]');
      for (var s = 0; s < sel.length; s++) sel[s].classList.add("sm-selected");
    }
    var first = null;
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].smHighlight(rank) >= 0 && !first) first = boxes[i];
    }
    return first;
  }

  function init() {
    document.documentElement.classList.add("sm-js");
    var boxes = document.querySelectorAll(".sm-map:not([data-sm-ready])");
    for (var i = 0; i < boxes.length; i++) {
      boxes[i].setAttribute("data-sm-ready", "1");
      boxes[i].smRoot = rootOf(boxes[i]);
      setup(boxes[i]);
    }
  }
  window.salesminingInit = init;

  document.addEventListener("click", function (e) {
    var t = e.target.closest ? e.target.closest("[data-sm-finding]") : null;
    if (!t || (e.target.closest("a[href]") && !e.target.closest(".sm-show"))) return;
    var root = rootOf(t);
    var rank = t.getAttribute("data-sm-finding");
    var box = highlightAll(root, rank);
    if (box && t.classList.contains("sm-show") && box.scrollIntoView) box.scrollIntoView({ block: "start" });
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
