/* querygym web app: plan graphs (dagre layout, SVG), node selection, forms, replay keys, live mode. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function data(id) {
    var s = document.getElementById(id);
    return s ? JSON.parse(s.textContent) : null;
  }

  /* Draw nodes [{id, label, sub, cls}] and edges [[a, b]] into an <svg>; every node is a <g data-node=id>. */
  function drawGraph(svg, nodes, edges, onClick) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (!nodes.length) { svg.setAttribute("height", 30); return; }
    var g = new dagre.graphlib.Graph();
    g.setGraph({ rankdir: "TB", nodesep: 24, ranksep: 34, marginx: 8, marginy: 8 });
    g.setDefaultEdgeLabel(function () { return {}; });
    nodes.forEach(function (n) {
      var w = Math.max(70, 8 * Math.max((n.label || "").length, (n.sub || "").length) + 16);
      g.setNode(n.id, { width: w, height: n.sub ? 40 : 26, data: n });
    });
    edges.forEach(function (e) { if (g.hasNode(e[0]) && g.hasNode(e[1])) g.setEdge(e[0], e[1]); });
    dagre.layout(g);
    var defs = el("defs", {}, svg);
    var m = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#888" }, m);
    g.edges().forEach(function (e) {
      var pts = g.edge(e).points.map(function (p) { return p.x + "," + p.y; });
      el("polyline", { points: pts.join(" "), class: "edge", "marker-end": "url(#arrow)" }, svg);
    });
    g.nodes().forEach(function (id) {
      var box = g.node(id), n = box.data;
      var grp = el("g", { class: "gnode " + (n.cls || ""), "data-node": id, tabindex: 0,
                          transform: "translate(" + (box.x - box.width / 2) + "," + (box.y - box.height / 2) + ")" }, svg);
      var title = el("title", {}, grp); title.textContent = n.title || n.label;
      el("rect", { width: box.width, height: box.height, rx: 5 }, grp);
      var t = el("text", { x: box.width / 2, y: 17, "text-anchor": "middle" }, grp); t.textContent = n.label;
      if (n.sub) { var s = el("text", { x: box.width / 2, y: 33, "text-anchor": "middle", class: "sub" }, grp); s.textContent = n.sub; }
      if (onClick) {
        grp.addEventListener("click", function () { onClick(id); });
        grp.addEventListener("keydown", function (ev) { if (ev.key === "Enter") onClick(id); });
      }
    });
    var gr = g.graph();
    svg.setAttribute("viewBox", "0 0 " + (gr.width || 10) + " " + (gr.height || 10));
    svg.setAttribute("width", gr.width || 10);
    svg.setAttribute("height", gr.height || 10);
  }

  function planNodes(plan, extra) {
    return plan.nodes.map(function (n) {
      var cls = (n.kind === "table" ? "base" : "cte") + (n.relation ? " rel-" + n.relation : "");
      var sub = n.kind === "table" ? "" : n.operation.replace("perform_", "") + (n.row_count != null ? " · " + n.row_count : "");
      var node = { id: n.id, label: n.label, sub: sub, cls: cls, title: n.sql || n.label };
      if (extra) extra(node, n);
      return node;
    });
  }

  function select(svg, id) {
    svg.querySelectorAll(".gnode.selected").forEach(function (x) { x.classList.remove("selected"); });
    var found = svg.querySelector('[data-node="' + CSS.escape(id) + '"]');
    if (found) found.classList.add("selected");
  }

  /* Explore: plan graph, node detail, action forms, schema diagram. */
  function initExplore() {
    var box = document.getElementById("episode");
    if (!box) return;
    var svg = document.getElementById("plan-graph");
    var plan = data("plan-data");
    drawGraph(svg, planNodes(plan), plan.edges, function (id) {
      if (id.indexOf("table:") === 0) return;
      select(svg, id);
      htmx.ajax("GET", box.dataset.nodeUrl + encodeURIComponent(id), { target: "#node-detail" });
    });
    var picker = document.getElementById("action-picker");
    if (picker) {
      picker.addEventListener("change", function () {
        document.querySelectorAll(".action-form").forEach(function (f) { f.hidden = f.dataset.action !== picker.value; });
      });
      var wanted = sessionStorage.getItem("querygym-action");
      if (wanted) { picker.value = wanted; picker.dispatchEvent(new Event("change")); }
      picker.addEventListener("change", function () { sessionStorage.setItem("querygym-action", picker.value); });
    }
    var last = box.querySelector(".transcript .step:last-of-type");
    if (last && last.scrollIntoView) last.scrollIntoView({ block: "nearest" });
  }

  function initSchema() {
    var svg = document.getElementById("schema-diagram");
    var schema = data("schema-data");
    if (!svg || !schema) return;
    var nodes = schema.tables.map(function (t) { return { id: t.name, label: t.name, sub: t.columns.length + " columns", cls: "base" }; });
    var edges = [];
    schema.tables.forEach(function (t) { t.foreign_keys.forEach(function (fk) { edges.push([t.name, fk.ref_table]); }); });
    drawGraph(svg, nodes, edges, null);
  }

  /* SQL analysis: the query's steps (failing / diverging marked) beside the gold query's. */
  function initAnalysis() {
    var report = data("analysis-data");
    if (!report) return;
    function stepsGraph(steps, failing, diverging) {
      var nodes = [], edges = [], seen = {};
      steps.forEach(function (s) {
        var id = s.cte_id || ("step " + (s.index + 1));
        var cls = "cte" + (s.index === failing ? " failing" : "") + (s.index === diverging ? " diverging" : "") + (s.status === "not run" ? " notrun" : "");
        nodes.push({ id: id, label: id, sub: (s.action ? JSON.parse(s.action)[0].replace("perform_", "") : "?") + (s.row_count != null ? " · " + s.row_count : ""), cls: cls, title: s.action || "" });
        (s.inputs || []).forEach(function (i) {
          if (i.indexOf("table:") === 0 && !seen[i]) { seen[i] = 1; nodes.push({ id: i, label: i.slice(6), cls: "base" }); }
          edges.push([i, id]);
        });
      });
      return [nodes, edges];
    }
    var a = stepsGraph(report.steps, report.failing_step, report.diverging_step);
    drawGraph(document.getElementById("steps-graph"), a[0], a[1], null);
    var b = stepsGraph(report.gold_steps, null, null);
    drawGraph(document.getElementById("gold-graph"), b[0], b[1], null);
  }

  /* Recorded episode: select a step <-> select its node; arrow keys step through. */
  function initReplay() {
    var root = document.getElementById("replay");
    if (!root) return;
    var svg = document.getElementById("plan-graph");
    var plan = data("plan-data");
    var steps = Array.prototype.slice.call(root.querySelectorAll(".chat .step"));
    function choose(n, push) {
      if (!steps.length) return;
      n = Math.max(1, Math.min(steps.length, n));
      steps.forEach(function (s) { s.classList.toggle("selected", +s.dataset.step === n); });
      var cur = steps[n - 1];
      cur.scrollIntoView({ block: "nearest" });
      svg.querySelectorAll(".gnode.selected").forEach(function (x) { x.classList.remove("selected"); });
      if (cur.dataset.node) select(svg, cur.dataset.node);
      root.dataset.step = n;
      if (push) history.replaceState(null, "", "?step=" + n);
    }
    drawGraph(svg, planNodes(plan), plan.edges, function (id) {
      var s = steps.filter(function (x) { return x.dataset.node === id; })[0];
      if (s) choose(+s.dataset.step, true);
    });
    steps.forEach(function (s) { s.addEventListener("click", function () { choose(+s.dataset.step, true); }); });
    document.addEventListener("keydown", function (ev) {
      if (ev.target && /INPUT|TEXTAREA|SELECT/.test(ev.target.tagName)) return;
      if (ev.key === "ArrowRight" || ev.key === "ArrowDown") { choose(+root.dataset.step + 1, true); ev.preventDefault(); }
      if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") { choose(+root.dataset.step - 1, true); ev.preventDefault(); }
    });
    choose(+root.dataset.step || 1, false);
  }

  /* Live: start an agent, read its steps as server-sent events, stop it. */
  function initLive() {
    var form = document.getElementById("live-form");
    if (!form) return;
    var stop = document.getElementById("live-stop"), status = document.getElementById("live-status");
    var list = document.getElementById("live-steps"), svg = document.getElementById("plan-graph");
    var current = null, source = null;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (source) source.close();
      list.textContent = "";
      var body = {};
      new FormData(form).forEach(function (v, k) { body[k] = v; });
      fetch("/api/live", { method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" }, body: JSON.stringify(body) })
        .then(function (r) { return r.json(); })
        .then(function (r) {
          if (r.error) { status.textContent = r.error.message; return; }
          current = r; stop.disabled = false; status.textContent = "running…";
          source = new EventSource(r.events);
          source.addEventListener("step", function (e) {
            var d = JSON.parse(e.data);
            list.insertAdjacentHTML("beforeend", d.html);  /* rendered and escaped by the server */
            list.lastElementChild.scrollIntoView({ block: "nearest" });
            drawGraph(svg, planNodes(d.plan), d.plan.edges, null);
          });
          source.addEventListener("end", function (e) {
            var d = JSON.parse(e.data);
            status.textContent = "ended: " + d.reason + " after " + d.steps + " steps";
            stop.disabled = true; source.close();
          });
        });
    });
    stop.addEventListener("click", function () {
      if (current) fetch(current.stop, { method: "POST" });
      stop.disabled = true;
    });
  }

  function init() { initSchema(); initExplore(); initAnalysis(); initReplay(); initLive(); }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", function (ev) {
    if (ev.detail && ev.detail.target && ev.detail.target.id === "episode") initExplore();
  });
  window.querygym = { drawGraph: drawGraph };
})();
