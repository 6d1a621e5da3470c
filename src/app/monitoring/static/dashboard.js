/*
 * Cobreja monitoring dashboard.
 *
 * Every 5 s this fetches `api/metrics` (the MonitoringDocument of app.monitoring.document) and
 * renders it into the cards of index.html: headline figures, two uPlot charts (response times,
 * errors per hour), tables and small status lists. Charts are created once and then updated in
 * place with setData; they follow the width of their card. A failed fetch shows a banner and
 * keeps the last data on screen. Every text from the document is inserted with textContent.
 *
 * Units in the document: times are Unix seconds, durations milliseconds, sizes bytes, shares
 * percent; null means "no data yet". Times are shown in the viewer's time zone.
 */
(function () {
  "use strict";

  const API_URL = "api/metrics";
  const REFRESH_MS = 5000;
  const CHART_HEIGHT = 240;
  const NO_DATA = "No data yet";
  const MAX_RESPONSE_POINTS = 3600;

  const COLORS = {
    avg: "#2f6fdb",
    min: "#2e9e6a",
    max: "#d9822b",
    server: "#c2372f",
    client: "#e2a33a",
    axis: "#66707d",
    grid: "#edf0f4",
  };

  const charts = { response: null, errors: null };
  let lastSuccess = null;

  // ------------------------------------------------------------------------------------------
  // DOM helpers (text always goes in through textContent)

  /** An element with optional class, text and children. */
  function el(tag, className, text, children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (children) node.append(...children.filter(Boolean));
    return node;
  }

  /** The "No data yet" placeholder (or another message). */
  function emptyState(message) {
    return el("p", "empty", message || NO_DATA);
  }

  /** Replace the content of the element with id `id`. */
  function fill(id, ...nodes) {
    document.getElementById(id).replaceChildren(...nodes.filter(Boolean));
  }

  /** A value followed by its unit in a muted span. */
  function withUnit(value, unit, className) {
    const node = el("span", className, value);
    if (unit) node.append(el("span", "unit", unit));
    return node;
  }

  /** A badge: kind is good, bad, warn or "" (neutral). */
  function badge(text, kind) {
    return el("span", "badge" + (kind ? " " + kind : ""), text);
  }

  /** A definition list of [label, node-or-text] pairs. */
  function keyValues(pairs) {
    const list = el("dl", "kv");
    for (const [label, value] of pairs) {
      list.append(el("dt", null, label));
      const dd = el("dd");
      if (value instanceof Node) dd.append(value);
      else dd.textContent = value;
      list.append(dd);
    }
    return list;
  }

  /**
   * A table. `columns` are {label, cls}; each row is a list of cells, a cell being text or
   * {text, cls, node, title}. A column's cls (e.g. "num") applies to its cells too.
   */
  function table(columns, rows) {
    const head = el("tr", null, null, columns.map((c) => el("th", c.cls, c.label)));
    const body = el("tbody");
    for (const row of rows) {
      const tr = el("tr");
      row.forEach((cell, i) => {
        const spec = cell !== null && typeof cell === "object" ? cell : { text: cell };
        const classes = [columns[i].cls, spec.cls].filter(Boolean).join(" ");
        const td = el("td", classes, spec.node ? null : spec.text);
        if (spec.node) td.append(spec.node);
        if (spec.title) td.title = spec.title;
        tr.append(td);
      });
      body.append(tr);
    }
    return el("table", null, null, [el("thead", null, null, [head]), body]);
  }

  // ------------------------------------------------------------------------------------------
  // Formatting

  const numberFormats = new Map();

  /** `value` with at most `digits` decimals, grouped for the viewer's locale. */
  function fmtNumber(value, digits) {
    const key = digits || 0;
    if (!numberFormats.has(key)) {
      numberFormats.set(key, new Intl.NumberFormat(undefined, { maximumFractionDigits: key }));
    }
    return numberFormats.get(key).format(value);
  }

  /** Milliseconds, with fewer decimals as they grow. */
  function fmtMs(value) {
    if (value === null || value === undefined) return null;
    return fmtNumber(value, value >= 100 ? 0 : value >= 10 ? 1 : 2);
  }

  /** A percentage with one decimal. */
  function fmtPercent(value) {
    if (value === null || value === undefined) return null;
    return fmtNumber(value, 1);
  }

  /** Bytes as [value, unit], in decimal units (1 MB = 1,000,000 bytes). */
  function fmtBytes(bytes) {
    const units = ["B", "kB", "MB", "GB", "TB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit += 1;
    }
    return [fmtNumber(value, unit === 0 ? 0 : value >= 100 ? 0 : 1), units[unit]];
  }

  /** A duration in seconds, for people: "42 s", "12 min", "3 h 12 min", "2 d 4 h". */
  function fmtDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `${s} s`;
    const minutes = Math.floor(s / 60);
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return `${hours} h ${minutes % 60} min`;
    return `${Math.floor(hours / 24)} d ${hours % 24} h`;
  }

  /** A Unix time as the viewer's local date and time. */
  function fmtDateTime(unixSeconds) {
    return new Date(unixSeconds * 1000).toLocaleString();
  }

  /** A Unix time as the viewer's local time of day. */
  function fmtTime(unixSeconds) {
    return new Date(unixSeconds * 1000).toLocaleTimeString();
  }

  /** A Unix time as local time of day when it is today, else date and time. */
  function fmtWhen(unixSeconds) {
    const date = new Date(unixSeconds * 1000);
    return date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString() : date.toLocaleString();
  }

  /** A plain figure from the comparison table, with its unit. */
  function fmtFigure(value, unit) {
    if (unit === "ms") return [fmtMs(value), "ms"];
    if (unit === "%") return [fmtPercent(value), "%"];
    if (unit === "bytes") return fmtBytes(value);
    return [fmtNumber(value, Number.isInteger(value) ? 0 : 2), unit || ""];
  }

  /** The CSS class of an HTTP status (status-2 … status-5). */
  function statusClass(status) {
    return "status-" + String(status).charAt(0);
  }

  // ------------------------------------------------------------------------------------------
  // Header and banner

  function renderHeader(doc) {
    const recording = document.getElementById("recording");
    recording.hidden = doc.recording;
    recording.className = "pill warn";
    recording.textContent = "Recording is off on the answering worker";
    const updated = document.getElementById("updated");
    updated.classList.remove("stale");
    updated.textContent = "Updated " + new Date().toLocaleTimeString();
    updated.title = "Document generated at " + fmtDateTime(doc.generated_at);
    const identity = document.getElementById("identity");
    identity.textContent = doc.service + " " + doc.version + " · answered by " + doc.answered_by;
  }

  function showBanner(message) {
    const banner = document.getElementById("banner");
    banner.textContent = message;
    banner.hidden = false;
    const updated = document.getElementById("updated");
    updated.classList.add("stale");
    updated.textContent = lastSuccess
      ? "Last updated " + lastSuccess.toLocaleTimeString()
      : "No data loaded";
  }

  function hideBanner() {
    document.getElementById("banner").hidden = true;
  }

  // ------------------------------------------------------------------------------------------
  // Headline figures

  /** One headline tile; a null value shows "No data yet". */
  function tile(label, value, unit, isBad) {
    const node = el("div", "tile" + (isBad ? " bad" : ""));
    node.append(el("div", "tile-label", label));
    if (value === null || value === undefined) {
      node.append(el("div", "tile-value no-data", NO_DATA));
    } else {
      const valueNode = el("div", "tile-value", value);
      if (unit) valueNode.append(el("span", "tile-unit", unit));
      node.append(valueNode);
    }
    return node;
  }

  function renderHeadline(doc) {
    const s = doc.summary;
    document.getElementById("headline-window").textContent =
      `rates and response times over the last ${fmtDuration(doc.recent_seconds)}; error rate, queries and cache today (UTC)`;
    fill(
      "headline-body",
      tile("Requests per second", fmtNumber(s.requests_per_second, 2), "req/s"),
      tile("Avg response", fmtMs(s.avg_response_ms), "ms"),
      tile("p95 response", fmtMs(s.p95_response_ms), "ms"),
      tile("In flight", fmtNumber(s.in_flight), s.in_flight === 1 ? "request" : "requests"),
      tile("Error rate (5xx)", fmtPercent(s.error_rate_percent), "%", s.error_rate_percent > 1),
      tile("Uptime", fmtDuration(s.uptime_seconds), ""),
      tile("DB queries today", s.db_queries === null ? null : fmtNumber(s.db_queries), "queries"),
      tile("Token cache hit rate", fmtPercent(s.cache_hit_rate_percent), "%"),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Charts (uPlot): created once, then updated with setData

  /** Axis styling shared by both charts. */
  function axis(extra) {
    return Object.assign(
      {
        stroke: COLORS.axis,
        grid: { stroke: COLORS.grid, width: 1 },
        ticks: { stroke: COLORS.grid, width: 1 },
        font: "12px system-ui, sans-serif",
        labelFont: "12px system-ui, sans-serif",
      },
      extra,
    );
  }

  /** A y range starting at 0, with some head room (and [0, 1] when there is nothing). */
  function rangeFromZero(u, dataMin, dataMax) {
    const top = dataMax === null || dataMax === undefined || dataMax <= 0 ? 1 : dataMax * 1.1;
    return [0, top];
  }

  /** Make the chart `key` in container `id` on first use, else give it new data. */
  function drawChart(key, id, makeOptions, data) {
    if (typeof uPlot === "undefined") return;
    const container = document.getElementById(id);
    if (charts[key]) {
      charts[key].setData(data);
      return;
    }
    const options = makeOptions();
    options.padding = [12, 36, null, null]; // room for the last x label
    options.width = Math.max(200, container.clientWidth);
    options.height = CHART_HEIGHT;
    charts[key] = new uPlot(options, data, container);
    followWidth(charts[key], container);
  }

  /** Resize a chart with its container (window resizes, grid reflow). */
  function followWidth(chart, container) {
    const resize = () => {
      const width = Math.max(200, container.clientWidth);
      if (width !== chart.width) chart.setSize({ width, height: CHART_HEIGHT });
    };
    if (typeof ResizeObserver !== "undefined") new ResizeObserver(resize).observe(container);
    window.addEventListener("resize", resize);
  }

  const TIME_INCRS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

  /** x tick labels: local HH:MM (HH:MM:SS when ticks are less than a minute apart). */
  function clockTicks(u, ticks, axisIdx, space, incr) {
    const parts = incr < 60 ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
    return ticks.map((t) => new Date(t * 1000).toLocaleTimeString([], parts));
  }

  /** The index of the latest x that has a value in some series (null when none has). */
  function lastDataIndex(u) {
    for (let i = u.data[0].length - 1; i >= 0; i -= 1) {
      for (let s = 1; s < u.data.length; s += 1) if (u.data[s][i] !== null && u.data[s][i] !== undefined) return i;
    }
    return null;
  }

  /**
   * A legend value formatter: the value under the cursor or, with the cursor away, the value at
   * the latest x that has data, so the legend shows the latest figures rather than dashes.
   */
  function latestOr(format) {
    return (u, v, seriesIdx, idx) => {
      let value = v;
      if (idx === null || idx === undefined) {
        const last = lastDataIndex(u);
        value = last === null ? null : u.data[seriesIdx][last];
      }
      return value === null || value === undefined ? "–" : format(value);
    };
  }

  function responseOptions() {
    const ms = latestOr((v) => fmtMs(v) + " ms");
    const line = (label, color, width) => ({
      label,
      stroke: color,
      width,
      value: ms,
      spanGaps: false,
      points: { show: true, size: 4, fill: color },
    });
    return {
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: rangeFromZero } },
      axes: [
        axis({ label: "Local time", labelSize: 20, space: 100, incrs: TIME_INCRS, values: clockTicks }),
        axis({ label: "Response time (ms)", labelSize: 20, size: 60 }),
      ],
      series: [
        { label: "Time", value: latestOr((v) => fmtTime(v)) },
        line("Average", COLORS.avg, 2),
        line("Min", COLORS.min, 1),
        line("Max", COLORS.max, 1),
      ],
    };
  }

  /** response_times on a per-second grid (seconds with no requests are gaps, not zeros). */
  function responseData(doc) {
    const points = doc.response_times;
    const byTime = new Map(points.map((p) => [p.time, p]));
    let end = Math.floor(doc.generated_at);
    let start = end - doc.recent_seconds + 1;
    if (points.length) {
      start = Math.min(start, points[0].time);
      end = Math.max(end, points[points.length - 1].time);
    }
    start = Math.max(start, end - MAX_RESPONSE_POINTS + 1);
    const xs = [], avg = [], min = [], max = [];
    for (let t = start; t <= end; t += 1) {
      const p = byTime.get(t);
      xs.push(t);
      avg.push(p ? p.avg_ms : null);
      min.push(p ? p.min_ms : null);
      max.push(p ? p.max_ms : null);
    }
    return [xs, avg, min, max];
  }

  function renderResponseTimes(doc) {
    document.getElementById("response-window").textContent =
      `per second, last ${fmtDuration(doc.recent_seconds)}, every worker`;
    document.getElementById("response-empty").hidden = doc.response_times.length > 0;
    drawChart("response", "response-chart", responseOptions, responseData(doc));
  }

  const HALF_HOUR = 1800;

  function errorsOptions() {
    const count = latestOr((v) => fmtNumber(v));
    const bars = (label, color, align) => ({
      label,
      fill: color,
      stroke: color,
      width: 0,
      value: count,
      paths: uPlot.paths.bars({ size: [0.4, 24], align }),
      points: { show: false },
    });
    const hourLabel = latestOr((v) => {
      const from = new Date((v - HALF_HOUR) * 1000);
      return from.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
    });
    return {
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      legend: { live: true },
      scales: {
        x: { time: true, range: (u, lo, hi) => [lo - HALF_HOUR, hi + HALF_HOUR] },
        y: { range: rangeFromZero },
      },
      axes: [
        axis({ label: "Hour starting (local time)", labelSize: 20, space: 60, incrs: [3600, 7200, 10800, 21600], values: clockTicks }),
        axis({
          label: "Errors per hour",
          labelSize: 20,
          size: 60,
          incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000, 1000000],
          values: (u, ticks) => ticks.map((v) => fmtNumber(v)),
        }),
      ],
      series: [
        { label: "Hour", value: hourLabel },
        bars("Server errors (5xx)", COLORS.server, -1),
        bars("Client errors (4xx)", COLORS.client, 1),
      ],
    };
  }

  function renderErrorsPerHour(doc) {
    const hours = doc.errors_per_hour;
    const quiet = hours.every((h) => h.server_errors === 0 && h.client_errors === 0);
    const note = document.getElementById("errors-empty");
    note.textContent = hours.length ? "No errors in the last 24 h" : NO_DATA;
    note.hidden = !quiet;
    // Each pair of bars sits in the middle of its hour.
    const data = [
      hours.map((h) => h.hour + HALF_HOUR),
      hours.map((h) => h.server_errors),
      hours.map((h) => h.client_errors),
    ];
    drawChart("errors", "errors-chart", errorsOptions, data);
  }

  // ------------------------------------------------------------------------------------------
  // Tables

  function renderSlowest(doc) {
    document.getElementById("slow-threshold").textContent =
      `top 10, at least ${fmtMs(doc.slow_threshold_ms)} ms (SLOW_REQUEST_MS)`;
    if (!doc.slowest.length) return fill("slowest-body", emptyState());
    const columns = [
      { label: "Time" },
      { label: "Method" },
      { label: "Path" },
      { label: "Tenant" },
      { label: "Status", cls: "num" },
      { label: "Duration (ms)", cls: "num" },
    ];
    const rows = doc.slowest.slice(0, 10).map((r) => [
      { text: fmtWhen(r.time), cls: "muted", title: fmtDateTime(r.time) },
      { text: r.method, cls: "method" },
      { text: r.path, cls: "path" },
      r.tenant === null ? { text: "—", cls: "muted", title: "no tenant (admin, health or unauthenticated)" } : r.tenant,
      { text: r.status, cls: statusClass(r.status) },
      fmtMs(r.duration_ms),
    ]);
    fill("slowest-body", table(columns, rows));
  }

  function renderEndpoints(doc) {
    if (!doc.endpoints.length) return fill("endpoints-body", emptyState());
    const columns = [
      { label: "Method" },
      { label: "Path" },
      { label: "Requests", cls: "num" },
      { label: "Avg (ms)", cls: "num" },
    ];
    const rows = doc.endpoints.map((e) => [
      { text: e.method, cls: "method" },
      { text: e.path, cls: "path" },
      fmtNumber(e.count),
      fmtMs(e.avg_ms),
    ]);
    fill("endpoints-body", table(columns, rows));
  }

  function renderErrorTypes(doc) {
    const types = doc.error_types;
    if (!types.length) return fill("error-types-body", emptyState());
    const most = Math.max(...types.map((t) => t.count), 1);
    const columns = [{ label: "Type" }, { label: "Answered" }, { label: "Count", cls: "num" }];
    const rows = types.map((t) => {
      const bar = el("span", "inline-bar");
      bar.style.width = Math.max(4, Math.round((t.count / most) * 60)) + "px";
      const count = el("span", null, null, [bar, el("span", null, fmtNumber(t.count))]);
      const kind = t.status_class === "5xx" ? "bad" : t.status_class === "4xx" ? "warn" : "";
      return [{ text: t.type, cls: "path" }, { node: badge(t.status_class, kind) }, { node: count }];
    });
    fill("error-types-body", table(columns, rows));
  }

  function renderComparison(doc) {
    if (!doc.comparison.length) return fill("comparison-body", emptyState());
    const columns = [
      { label: "Figure" },
      { label: "Today", cls: "num" },
      { label: "Yesterday", cls: "num" },
      { label: "Change", cls: "num" },
    ];
    const rows = doc.comparison.map((c) => [
      c.label,
      figureCell(c.today, c.unit),
      figureCell(c.yesterday, c.unit),
      { node: changeNode(c) },
    ]);
    fill("comparison-body", table(columns, rows));
  }

  function figureCell(value, unit) {
    if (value === null || value === undefined) return { text: NO_DATA, cls: "muted" };
    const [text, shownUnit] = fmtFigure(value, unit);
    return { node: withUnit(text, shownUnit) };
  }

  /** ↑/↓ and the % change, coloured by whether that direction is good news. */
  function changeNode(c) {
    if (c.change_percent === null || c.change_percent === undefined || c.direction === null) {
      return el("span", "change neutral", "—");
    }
    const arrow = { up: "↑", down: "↓", same: "→" }[c.direction];
    let kind = "neutral";
    if (c.higher_is_better !== null && c.direction !== "same") {
      kind = (c.direction === "up") === c.higher_is_better ? "good" : "bad";
    }
    const text = `${arrow} ${fmtNumber(Math.abs(c.change_percent), 1)} %`;
    return el("span", "change " + kind, text);
  }

  // ------------------------------------------------------------------------------------------
  // System, Redis, PostgreSQL

  function usageBar(name, percent, warning) {
    const warn = percent > warning;
    const node = el("div", "usage" + (warn ? " warn" : ""));
    node.append(
      el("div", "usage-head", null, [
        el("span", "usage-name", name),
        el("span", "usage-value", fmtPercent(percent) + " %"),
      ]),
    );
    const fillBar = el("div", "usage-fill");
    fillBar.style.width = Math.min(100, Math.max(0, percent)) + "%";
    node.append(el("div", "usage-track", null, [fillBar]));
    if (warn) node.append(el("div", "usage-warning", `⚠ above ${fmtNumber(warning, 1)} %`));
    return node;
  }

  function renderSystem(doc) {
    const sys = doc.system;
    fill(
      "system-body",
      usageBar("CPU", sys.cpu_percent, sys.warning_percent),
      usageBar("Memory", sys.memory_percent, sys.warning_percent),
      usageBar("Disk", sys.disk_percent, sys.warning_percent),
      el("p", "hint", `A bar turns red above ${fmtNumber(sys.warning_percent, 1)} %.`),
    );
  }

  /** Up/down badge, and the error when down. */
  function upDown(up, error) {
    const line = el("div", "status-line", null, [badge(up ? "Up" : "Down", up ? "good" : "bad")]);
    return up || !error ? line : el("div", null, null, [line, el("p", "error-text", error)]);
  }

  /** A figure or "No data yet". */
  function orNoData(value, render) {
    return value === null || value === undefined ? el("span", "muted", NO_DATA) : render(value);
  }

  function renderRedis(doc) {
    const r = doc.redis;
    if (!r.up) return fill("redis-body", upDown(false, r.error || "Redis does not answer"));
    fill(
      "redis-body",
      upDown(true, null),
      keyValues([
        ["Hit rate", orNoData(r.hit_rate_percent, (v) => withUnit(fmtPercent(v), "%"))],
        ["Memory", orNoData(r.used_memory_bytes, (v) => withUnit(...fmtBytes(v)))],
        ["Operations", orNoData(r.ops_per_second, (v) => withUnit(fmtNumber(v, 1), "ops/s"))],
        ["Clients", orNoData(r.connected_clients, (v) => withUnit(fmtNumber(v), "connected"))],
        ["Version", r.version || "—"],
      ]),
    );
  }

  function renderPostgres(doc) {
    const p = doc.postgres;
    if (!p.up) return fill("postgres-body", upDown(false, p.error || "PostgreSQL does not answer"));
    const connections =
      p.connections === null
        ? el("span", "muted", NO_DATA)
        : withUnit(
            fmtNumber(p.connections) + (p.max_connections === null ? "" : " / " + fmtNumber(p.max_connections)),
            p.max_connections === null ? "" : "max",
          );
    fill(
      "postgres-body",
      upDown(true, null),
      keyValues([
        ["Database size", orNoData(p.database_size_bytes, (v) => withUnit(...fmtBytes(v)))],
        ["Connections", connections],
        ["Commits", orNoData(p.commits, (v) => withUnit(fmtNumber(v), "transactions"))],
        ["Rollbacks", orNoData(p.rollbacks, (v) => withUnit(fmtNumber(v), "transactions"))],
      ]),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Tenants, today's totals

  /** Chips of a {name: count} mapping, largest first; `classOf` may add a class per name. */
  function chips(counts, classOf) {
    const entries = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (!entries.length) return emptyState();
    return el(
      "div",
      "chips",
      null,
      entries.map(([name, count]) => {
        const chip = el("span", "chip" + (classOf ? " " + classOf(name) : ""), name);
        chip.append(el("b", null, fmtNumber(count)));
        return chip;
      }),
    );
  }

  function renderTenants(doc) {
    const t = doc.tenants;
    if (t.total === null && !t.busiest.length) return fill("tenants-body", emptyState());
    const busiest = t.busiest.length
      ? table(
          [{ label: "Tenant" }, { label: "Requests today", cls: "num" }],
          t.busiest.map((b) => [{ text: b.slug, cls: "mono" }, fmtNumber(b.requests)]),
        )
      : emptyState("No tenant requests today");
    fill(
      "tenants-body",
      keyValues([["Total", t.total === null ? el("span", "muted", NO_DATA) : withUnit(fmtNumber(t.total), t.total === 1 ? "tenant" : "tenants")]]),
      el("div", "section-title", "By status"),
      chips(t.by_status, (status) => (status === "active" ? "s2" : "s4")),
      el("div", "section-title", "Busiest today"),
      el("div", "table-box short", null, [busiest]),
    );
  }

  function renderTotals(doc) {
    const t = doc.totals;
    document.getElementById("totals-day").textContent = `UTC day ${t.day}`;
    fill(
      "totals-body",
      keyValues([
        ["Requests", withUnit(fmtNumber(t.requests), "")],
        ["Server errors (5xx)", withUnit(fmtNumber(t.server_errors), "", t.server_errors ? "status-5" : "")],
        ["Client errors (4xx)", withUnit(fmtNumber(t.client_errors), "", t.client_errors ? "status-4" : "")],
        [`Slow (≥ ${fmtMs(doc.slow_threshold_ms)} ms)`, withUnit(fmtNumber(t.slow_requests), "")],
      ]),
      el("div", "section-title", "By method"),
      chips(t.by_method),
      el("div", "section-title", "By status"),
      chips(t.by_status, (status) => "s" + status.charAt(0)),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Health

  const HEALTH_KIND = { healthy: "good", degraded: "warn", unhealthy: "bad" };

  function renderHealth(doc) {
    const h = doc.health;
    if (h.status === null && !h.history.length) return fill("health-body", emptyState());
    const status = h.status === null ? badge(NO_DATA) : badge(h.status, HEALTH_KIND[h.status]);
    const summary = keyValues([
      ["Latest", status],
      ["Uptime", fmtDuration(h.uptime_seconds)],
      ["Availability", orNoData(h.availability_percent, (v) => withUnit(fmtPercent(v), "% healthy"))],
      ["Checks kept", withUnit(fmtNumber(h.history.length), "")],
    ]);
    if (!h.history.length) return fill("health-body", summary, emptyState("No checks yet"));
    const oldestFirst = h.history.slice().reverse();
    const strip = el(
      "div",
      "strip",
      null,
      oldestFirst.map((sample) => {
        const cell = el("span", "strip-cell " + sample.status);
        cell.title = `${fmtDateTime(sample.time)} · ${sample.status} · ${sample.worker}`;
        return cell;
      }),
    );
    const rows = h.history.map((sample) => [
      { text: fmtTime(sample.time), cls: "muted", title: fmtDateTime(sample.time) },
      { node: badge(sample.status, HEALTH_KIND[sample.status]) },
      sample.database_ms === null ? { text: "—", cls: "muted" } : fmtMs(sample.database_ms),
      sample.redis_ms === null ? { text: "—", cls: "muted" } : fmtMs(sample.redis_ms),
      { text: sample.worker, cls: "mono" },
    ]);
    const history = table(
      [{ label: "Time" }, { label: "Status" }, { label: "DB (ms)", cls: "num" }, { label: "Redis (ms)", cls: "num" }, { label: "Worker" }],
      rows,
    );
    fill(
      "health-body",
      summary,
      el("div", "section-title", "History (oldest → newest)"),
      strip,
      el("div", "table-box shorter", null, [history]),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Background work

  function renderBackground(doc) {
    const b = doc.background;
    const runs = b.migration_runs.length
      ? table(
          [
            { label: "Started" },
            { label: "Migrated", cls: "num" },
            { label: "Failed", cls: "num" },
            { label: "Duration", cls: "num" },
          ],
          b.migration_runs.map((run) => [
            { text: fmtDateTime(run.started_at), cls: "muted", title: run.run_id },
            fmtNumber(run.tenants_migrated),
            { text: fmtNumber(run.tenants_failed), cls: run.tenants_failed ? "status-5" : "" },
            fmtRunDuration(run.duration_ms),
          ]),
        )
      : emptyState("No fleet migration runs yet");
    const backlog =
      b.outbox_backlog === null
        ? emptyState()
        : el("div", "big-figure" + (b.outbox_backlog ? " status-4" : ""), fmtNumber(b.outbox_backlog), [
            el("span", "unit", b.outbox_backlog === 1 ? "write owed" : "writes owed"),
          ]);
    const workers = b.workers.length ? workersTable(doc) : emptyState();
    fill(
      "background-body",
      el("div", null, null, [el("div", "section-title", "Fleet migration runs"), el("div", "table-box short", null, [runs])]),
      el("div", null, null, [
        el("div", "section-title", "Token outbox"),
        backlog,
        el("div", "hint", "Redis writes of token changes not yet applied"),
      ]),
      el("div", null, null, [el("div", "section-title", "Workers"), el("div", "table-box short", null, [workers])]),
    );
  }

  /** A run's duration: ms below 10 s, else human. */
  function fmtRunDuration(ms) {
    return ms < 10000 ? `${fmtMs(ms)} ms` : fmtDuration(ms / 1000);
  }

  function workersTable(doc) {
    const rows = doc.background.workers.map((w) => [
      { text: w.id, cls: "mono" },
      { text: w.pid, cls: "muted" },
      { node: badge(w.listener_connected ? "connected" : "disconnected", w.listener_connected ? "good" : "bad") },
      { node: badge(w.redis_trusted ? "trusted" : "not trusted", w.redis_trusted ? "good" : "warn") },
      fmtNumber(w.in_flight),
      fmtNumber(w.requests),
      fmtDuration(w.uptime_seconds),
      { text: fmtDuration(Math.max(0, doc.generated_at - w.last_seen)) + " ago", title: fmtDateTime(w.last_seen) },
    ]);
    return table(
      [
        { label: "Worker" },
        { label: "PID" },
        { label: "Listener" },
        { label: "Redis records" },
        { label: "In flight", cls: "num" },
        { label: "Requests", cls: "num" },
        { label: "Uptime", cls: "num" },
        { label: "Last seen", cls: "num" },
      ],
      rows,
    );
  }

  // ------------------------------------------------------------------------------------------
  // Refresh loop

  const PANELS = [
    renderHeader,
    renderHeadline,
    renderResponseTimes,
    renderErrorsPerHour,
    renderSlowest,
    renderEndpoints,
    renderErrorTypes,
    renderSystem,
    renderRedis,
    renderPostgres,
    renderTenants,
    renderTotals,
    renderHealth,
    renderComparison,
    renderBackground,
  ];

  /** Render every panel; one panel failing leaves the others on screen (and is logged). */
  function render(doc) {
    const failed = [];
    for (const panel of PANELS) {
      try {
        panel(doc);
      } catch (error) {
        failed.push(panel.name);
        console.error(`dashboard: ${panel.name} failed`, error);
      }
    }
    return failed;
  }

  async function refresh() {
    try {
      const response = await fetch(API_URL, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(`the server answered HTTP ${response.status}`);
      const doc = await response.json();
      const failed = render(doc);
      lastSuccess = new Date();
      if (failed.length) showBanner(`Some panels could not be drawn: ${failed.join(", ")}.`);
      else hideBanner();
      if (typeof uPlot === "undefined") showBanner("The chart library did not load; charts are not shown.");
      document.body.dataset.loaded = "true";
    } catch (error) {
      const since = lastSuccess ? ` Showing data from ${lastSuccess.toLocaleTimeString()}.` : "";
      showBanner(`Could not refresh the metrics: ${error.message}.${since} Retrying every ${REFRESH_MS / 1000} s.`);
    } finally {
      window.setTimeout(refresh, REFRESH_MS);
    }
  }

  refresh();
})();
