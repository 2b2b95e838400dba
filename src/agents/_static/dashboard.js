// The agents monitoring dashboard: polls /api/dashboard and renders it. Every text goes through textContent.
"use strict";
(function () {
  const REFRESH_MS = 5000;
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    return node;
  }

  function fmt(value, unit) {
    if (value === null || value === undefined || Number.isNaN(Number(value))) return "-";
    const v = Number(value);
    if (unit === "ratio") return (v * 100).toFixed(1) + "%";
    if (unit === "ms") return v.toFixed(1) + " ms";
    if (unit === "x") return v.toFixed(2) + "x";
    return Number.isInteger(v) ? String(v) : v.toFixed(2);
  }

  function time(iso) {
    if (!iso) return "-";
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleTimeString();
  }

  function badge(status) {
    const node = el("span", "status", status);
    node.dataset.status = status;
    return node;
  }

  function renderFigures(figures) {
    const root = document.getElementById("figures");
    root.replaceChildren();
    for (const f of figures) {
      const card = el("div", "figure");
      card.dataset.key = f.section + "." + f.key;
      card.append(el("div", "muted", f.title), el("div", "value", fmt(f.value, f.unit)));
      root.append(card);
    }
  }

  function renderComponents(components) {
    const body = document.querySelector("#components tbody");
    body.replaceChildren();
    for (const [name, c] of Object.entries(components)) {
      const row = el("tr");
      row.dataset.component = name;
      const status = el("td");
      status.append(badge(c.status));
      const details = c.error || Object.entries(c.metadata || {})
        .filter(([, v]) => typeof v !== "object").map(([k, v]) => k + ": " + v).join(", ");
      row.append(el("td", "", name), status, el("td", "", fmt(c.latency_ms, "ms")), el("td", "", details),
        el("td", "", time(c.last_check)));
      body.append(row);
    }
  }

  function renderAlerts(alerts) {
    const body = document.querySelector("#alerts tbody");
    body.replaceChildren();
    for (const a of alerts) {
      const row = el("tr");
      row.dataset.alertId = a.alert_id;
      row.dataset.metric = a.metric_name;
      const severity = el("td");
      severity.append(badge(a.severity));
      let message = a.message;
      if (a.acknowledged_at) message += " (acknowledged)";
      if (a.suppressed_until) message += " (suppressed)";
      row.append(severity, el("td", "", a.component), el("td", "", message), el("td", "", a.threshold),
        el("td", "", Number(a.actual_value).toPrecision(4)), el("td", "", time(a.created_at)));
      body.append(row);
    }
    document.getElementById("no-alerts").hidden = alerts.length > 0;
  }

  function renderResolved(alerts) {
    const root = document.getElementById("resolved");
    root.replaceChildren();
    for (const a of alerts) root.append(el("li", "", time(a.resolved_at) + " " + a.message));
  }

  function chart(c) {
    const W = 380, H = 170, L = 48, R = 10, T = 10, B = 24;
    const box = el("div", "chart");
    box.dataset.chartId = c.id;
    box.append(el("h3", "", c.title));
    const plot = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
    plot.dataset.points = String(c.points.length);
    // Points are spaced by their order (the axis shows the first and last times): bursts stay readable.
    const n = c.points.length;
    const ys = c.points.map((p) => p[1]);
    let y0 = Math.min(...ys), y1 = Math.max(...ys);
    if (y1 === y0) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
    // a threshold joins the scale only when it is near the data, so far-away limits do not flatten the line
    const span = y1 - y0;
    for (const v of [c.warning, c.critical]) {
      if (v === null || v === undefined) continue;
      if (v >= y0 - span && v <= y1 + span) { y0 = Math.min(y0, v); y1 = Math.max(y1, v); }
    }
    const pad = (y1 - y0) * 0.08;
    y0 -= pad; y1 += pad;
    const sx = (i) => L + (n === 1 ? 0.5 : i / (n - 1)) * (W - L - R);
    const sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
    plot.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
    plot.append(svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
    const top = svg("text", { class: "label", x: 2, y: T + 8 });
    top.textContent = fmt(y1, c.unit);
    const bottom = svg("text", { class: "label", x: 2, y: H - B });
    bottom.textContent = fmt(y0, c.unit);
    const start = svg("text", { class: "label", x: L, y: H - 6 });
    start.textContent = new Date(c.points[0][0]).toLocaleTimeString();
    const end = svg("text", { class: "label", x: W - R - 60, y: H - 6 });
    end.textContent = new Date(c.points[n - 1][0]).toLocaleTimeString();
    plot.append(top, bottom, start, end);
    for (const [name, value] of [["warning", c.warning], ["critical", c.critical]]) {
      if (value === null || value === undefined || value < y0 || value > y1) continue;
      plot.append(svg("line", { class: name, x1: L, y1: sy(value), x2: W - R, y2: sy(value) }));
    }
    plot.append(svg("polyline", { class: "line", points: c.points.map((p, i) => sx(i) + "," + sy(p[1])).join(" ") }));
    c.points.forEach((p, i) => {
      const dot = svg("circle", { class: "point", cx: sx(i), cy: sy(p[1]), r: 3 });
      const tip = svg("title");
      tip.textContent = (c.labels ? c.labels[i] + ": " : "") + fmt(p[1], c.unit) + " at " + new Date(p[0]).toLocaleTimeString();
      dot.append(tip);
      plot.append(dot);
    });
    box.append(plot);
    const last = c.points[c.points.length - 1];
    box.append(el("div", "muted", "last " + fmt(last[1], c.unit) + " \u00b7 " + c.points.length + " points \u00b7 " + c.source));
    return box;
  }

  function renderCharts(charts) {
    const root = document.getElementById("charts");
    root.replaceChildren(...charts.filter((c) => c.points.length > 0).map(chart));
    document.getElementById("no-charts").hidden = root.children.length > 0;
  }

  function render(data) {
    const overall = document.getElementById("overall");
    overall.textContent = data.overall_status;
    overall.dataset.status = data.overall_status;
    document.getElementById("updated").textContent = "updated " + time(data.generated_at);
    document.getElementById("window").textContent = "(last " + data.window_minutes + " min)";
    renderFigures(data.figures);
    renderComponents(data.components);
    renderAlerts(data.alerts);
    renderCharts(data.charts);
    renderResolved(data.resolved_alerts);
    document.body.dataset.loaded = "true";
  }

  async function load() {
    const error = document.getElementById("error");
    try {
      const response = await fetch("/api/dashboard", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      render(await response.json());
      error.hidden = true;
    } catch (e) {
      error.textContent = "Cannot load the dashboard data: " + e.message;
      error.hidden = false;
    }
  }

  load();
  setInterval(load, REFRESH_MS);
})();
