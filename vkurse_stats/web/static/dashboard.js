// The dashboard: charts from the JSON block #chart-data (the CSP forbids inline scripts), drawn
// with the vendored Apache ECharts; tables sorted, searched and paged in place through the API
// (#table-data says how the server renders a row); the two date inputs bound each other.
// Every figure is computed on the server; without JavaScript every link and form still works.
(function () {
  "use strict";
  var palette = ["#1f5eff", "#13a38b", "#f08c00", "#8a4dff", "#e8467c", "#5b6b8c", "#2bb0ed"];
  var limitColour = "#b3261e";

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function readJson(id) {
    var holder = document.getElementById(id);
    return holder ? JSON.parse(holder.textContent) : null;
  }

  // --- the date range ---------------------------------------------------------------------
  var from = document.getElementById("range-from");
  var to = document.getElementById("range-to");
  if (from && to) {
    var bound = function () {
      if (to.value) { from.max = to.value; } else { from.removeAttribute("max"); }
      if (from.value) { to.min = from.value; } else { to.removeAttribute("min"); }
    };
    from.addEventListener("change", bound);
    to.addEventListener("change", bound);
  }

  // --- charts -------------------------------------------------------------------------------
  var data = readJson("chart-data");
  var charts = [];
  var dayChart = function () {};
  if (data && typeof echarts !== "undefined") {
    var nf = new Intl.NumberFormat(data.lang === "en" ? "en-US" : "ru-RU");
    var num = function (v) { return nf.format(v); };
    var narrow = function (el) { return el.clientWidth < 600; };

    var make = function (id) {
      var el = document.getElementById(id);
      if (!el) { return null; }
      var chart = echarts.init(el, null, { renderer: "svg" });  // text a test and a printer can read
      charts.push(chart);
      return chart;
    };

    var baseOption = function (el) {
      var phone = narrow(el);
      return {
        color: palette,
        animation: false,
        // Limit and average labels sit right of the plot, never on the bars.
        grid: { left: 8, right: phone ? 72 : 96, top: phone ? 16 : 56, bottom: phone ? 72 : 40,
                containLabel: true },
        // On a phone the legend goes under the plot and scrolls instead of covering it.
        legend: phone ? { type: "scroll", bottom: 0, textStyle: { fontSize: 11 } }
          : { top: 4, type: "plain", textStyle: { fontSize: 11 }, itemGap: 14 },
        xAxis: { type: "category", data: data.days, axisLabel: { hideOverlap: true } },
        yAxis: { type: "value", minInterval: 1, axisLabel: { formatter: num } },
        tooltip: { trigger: "axis", confine: true, valueFormatter: num },
      };
    };

    // The next round number (1, 2, 2.5, 5 × 10ⁿ) at or above v, so the axis ends on a tick.
    var niceCeil = function (v) {
      if (v <= 1) { return 1; }
      var step = Math.pow(10, Math.floor(Math.log10(v)));
      var nice = [1, 2, 2.5, 5, 10].filter(function (k) { return k * step >= v; })[0];
      return nice * step;
    };

    // Labels of horizontal lines right of the plot, moved apart where they would overlap.
    var spreadLabels = function (chart, lines) {
      var placed = lines.map(function (l) {
        return { line: l, y: chart.convertToPixel({ yAxisIndex: 0 }, l.yAxis) };
      }).sort(function (a, b) { return b.y - a.y; });
      var last = null;
      placed.forEach(function (p) {
        var y = p.y;
        if (last !== null && last - y < 14) { y = last - 14; }
        p.line.label.offset = [0, y - p.y];
        last = y;
      });
    };

    var sectionChart = function (spec) {
      var chart = make("chart-" + spec.id);
      if (!chart) { return; }
      var el = chart.getDom();
      var option = baseOption(el);
      var lines = [];
      var highest = 0;
      option.series = spec.series.map(function (s, i) {
        var colour = palette[i % palette.length];
        var out = {
          name: s.name, type: s.main ? "bar" : "line", data: s.data, symbol: "circle",
          symbolSize: 4, barMaxWidth: 18, emphasis: { focus: "series" }, itemStyle: { color: colour },
          markLine: { symbol: "none", silent: true, data: [] },
        };
        s.data.forEach(function (v) { highest = Math.max(highest, v); });
        // Days (or weeks) with time at the limit stand out in the limit's colour.
        if (s.breach && s.breach.length) {
          out.data = s.data.map(function (v, k) {
            if (s.breach.indexOf(k) < 0) { return v; }
            return s.main ? { value: v, itemStyle: { color: limitColour } }
              : { value: v, symbol: "triangle", symbolSize: 10, itemStyle: { color: limitColour } };
          });
        }
        if (s.overlay) { out.lineStyle = { type: "dashed", width: 1.5 }; }
        if (s.main) {
          out.itemStyle.borderRadius = [3, 3, 0, 0];
          var avg = s.data.reduce(function (a, b) { return a + b; }, 0) / Math.max(1, s.data.length);
          var average = { yAxis: avg, name: data.text.average,
                          label: { formatter: data.text.average + ": " + nf.format(Math.round(avg * 10) / 10),
                                   position: "end", fontSize: 11, color: "#5b6b8c" },
                          lineStyle: { color: "#5b6b8c", type: "dotted" } };
          out.markLine.data.push(average);
          lines.push(average);
        }
        if (s.limit !== null && s.limit !== undefined) {
          // Each limit is drawn against its own series, in its colour.
          var limit = { yAxis: s.limit, name: s.limit_name,
                        // Short, in the colour of its series (the legend names it; the data
                        // table under the chart spells it out).
                        label: { formatter: data.text.limit_short + ": " + nf.format(s.limit),
                                 position: "end", fontSize: 11,
                                 color: s.main ? limitColour : colour, fontWeight: "bold" },
                        lineStyle: { color: s.main ? limitColour : colour, type: "solid", width: 2 } };
          out.markLine.data.push(limit);
          lines.push(limit);
          highest = Math.max(highest, s.limit);
        }
        if (s.peak !== null && s.peak !== undefined) {
          out.markPoint = { symbol: "pin", symbolSize: s.main ? 40 : 32,
                            itemStyle: { color: colour },
                            label: { fontSize: 10, formatter: function (p) { return nf.format(p.value); } },
                            data: [{ name: data.text.peak_day, coord: [s.peak, s.data[s.peak]],
                                     value: s.data[s.peak] }] };
        }
        return out;
      });
      // Keep every limit line in view, with room for the peak pins above the bars.
      option.yAxis.max = function (v) { return niceCeil(Math.max(v.max, highest) * 1.12); };
      option.tooltip.formatter = function (items) {
        if (!items.length) { return ""; }
        var i = items[0].dataIndex;
        var rows = ["<b>" + esc(data.titles[i]) + "</b>"];
        spec.tooltip.forEach(function (row) {
          var at = row.at[i] ? " (" + esc(row.at[i]) + ")" : "";
          rows.push(esc(row.name) + ": <b>" + num(row.values[i]) + "</b>" + at);
        });
        spec.series.forEach(function (s) {
          if (s.overlay) { rows.push(esc(s.full) + ": <b>" + num(s.data[i]) + "</b>"); }
        });
        spec.series.forEach(function (s) {
          if (s.at_limit && s.at_limit[i]) {
            rows.push("⚠ " + esc(data.text.at_limit) + " (" + esc(s.name) + "): <b>" +
                      esc(s.at_limit[i]) + "</b>");
          }
        });
        rows.push("<i>" + esc(data.text.open_day) + "</i>");
        return rows.join("<br>");
      };
      chart.setOption(option);
      // A click on a day (anywhere over the plot) opens what made the main figure's peak then.
      var mainSeries = spec.series.filter(function (s) { return s.main; })[0];
      if (mainSeries && mainSeries.days_iso) {
        chart.getZr().on("mousemove", function (e) {
          chart.getZr().setCursorStyle(chart.containPixel("grid", [e.offsetX, e.offsetY]) ? "pointer" : "default");
        });
        chart.getZr().on("click", function (e) {
          var pt = [e.offsetX, e.offsetY];
          if (!chart.containPixel("grid", pt)) { return; }
          var i = chart.convertFromPixel({ seriesIndex: 0 }, pt)[0];
          var day = mainSeries.days_iso[i];
          if (day && mainSeries.data[i] > 0) { openDay(day, mainSeries.id, null); }
        });
      }
      spreadLabels(chart, lines);
      chart.setOption({ series: option.series.map(function (s) { return { markLine: s.markLine }; }) });
    };

    // The day's curve: per-minute maxima, the exact peak of each count, its limit (stepping
    // where it changed) and the time at and over it shaded.
    dayChart = function () {
      var holder = document.getElementById("day-data");
      var el = document.getElementById("chart-day");
      if (!holder || !el) { return; }
      var old = echarts.getInstanceByDom(el);
      if (old) { charts.splice(charts.indexOf(old), 1); old.dispose(); }
      var day = JSON.parse(holder.textContent);
      var chart = make("chart-day");
      var option = baseOption(el);
      option.xAxis.data = day.axis;
      option.xAxis.axisLabel = { interval: 119 };
      option.yAxis = [{ type: "value", minInterval: 1, axisLabel: { formatter: num } },
                      { type: "value", minInterval: 1, axisLabel: { formatter: num }, splitLine: { show: false } }];
      option.grid.right = 56;
      option.series = [];
      day.series.forEach(function (s, i) {
        var colour = palette[i % palette.length];
        var axis = s.id === "total.events" ? 1 : 0;
        var line = { name: s.name, type: "line", step: "end", showSymbol: false, yAxisIndex: axis,
                     data: s.data, lineStyle: { width: 1.5, color: colour }, itemStyle: { color: colour } };
        if (s.peak_minute !== null) {
          line.markPoint = { symbol: "pin", symbolSize: 34, itemStyle: { color: colour },
                             label: { fontSize: 10, formatter: function () { return num(s.peak); } },
                             data: [{ name: day.text.peak + " " + s.peak_at, coord: [s.peak_minute, s.peak], value: s.peak }] };
        }
        if (s.episodes.length) {
          // Unlabelled: nested at/over shades would print over each other (the note explains them).
          line.markArea = { silent: true, label: { show: false }, data: s.episodes.map(function (e) {
            var over = e[2] === "over";
            return [{ xAxis: e[0], name: over ? day.text.over_shade : day.text.at_shade,
                      itemStyle: { color: over ? "rgba(179, 38, 30, 0.28)" : "rgba(179, 38, 30, 0.12)" } },
                    { xAxis: e[1] }];
          }) };
        }
        option.series.push(line);
        if (s.limit !== null || s.limit_changes.length) {
          var limits = [], current = s.limit, k = 0;
          for (var m = 0; m < s.data.length; m++) {
            while (k < s.limit_changes.length && s.limit_changes[k][0] <= m) { current = s.limit_changes[k][1]; k++; }
            limits.push(current);
          }
          option.series.push({ name: s.limit_name, type: "line", step: "end", showSymbol: false,
                               yAxisIndex: axis, data: limits, silent: true,
                               lineStyle: { color: colour, type: "dashed", width: 1.25 }, itemStyle: { color: colour } });
        }
      });
      chart.setOption(option);
      document.getElementById("day-panel").setAttribute("data-drawn",
        String(1 + parseInt(document.getElementById("day-panel").getAttribute("data-drawn") || "0", 10)));
    };

    var devicesChart = function () {
      var chart = make("chart-devices");
      if (!chart) { return; }
      var rows = data.devices.slice().reverse();
      chart.setOption({
        color: palette, animation: false,
        grid: { left: 8, right: 48, top: 8, bottom: 8, containLabel: true },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true, valueFormatter: num },
        xAxis: { type: "value", minInterval: 1, axisLabel: { formatter: num } },
        yAxis: { type: "category", data: rows.map(function (r) { return r.name; }),
                 axisLabel: { width: narrow(chart.getDom()) ? 120 : 220, overflow: "truncate" } },
        series: [{ type: "bar", name: data.text.users,
                   data: rows.map(function (r) {
                     return r.other ? { value: r.users, itemStyle: { color: "#9aa5b8" } } : r.users;
                   }), barMaxWidth: 16,
                   label: { show: true, position: "right", fontSize: 11,
                            formatter: function (p) { return num(p.value); } } }],
      });
    };

    var clientsChart = function () {
      var chart = make("chart-clients");
      if (!chart) { return; }
      var option = baseOption(chart.getDom());
      option.grid.right = 16;
      option.tooltip.formatter = function (items) {
        if (!items.length) { return ""; }
        var rows = ["<b>" + esc(data.titles[items[0].dataIndex]) + "</b>"];
        items.forEach(function (it) { rows.push(esc(it.seriesName) + ": <b>" + num(it.value) + "</b>"); });
        return rows.join("<br>");
      };
      option.series = data.clients.names.map(function (name, i) {
        return { name: name, type: "bar", stack: "clients", data: data.clients.series[i], barMaxWidth: 18 };
      });
      chart.setOption(option);
    };

    // Weekday x hour: the highest count of each hour on that weekday over the range.
    var hoursChart = function (h) {
      var chart = make("chart-" + h.id);
      if (!chart) { return; }
      var cells = [];
      h.matrix.forEach(function (row, d) { row.forEach(function (v, hour) { cells.push([hour, d, v]); }); });
      var hours = [];
      for (var i = 0; i < 24; i++) { hours.push((i < 10 ? "0" : "") + i); }
      chart.setOption({
        animation: false,
        grid: { left: 8, right: 8, top: 8, bottom: 48, containLabel: true },
        tooltip: { confine: true, formatter: function (p) {
          return esc(data.weekdays[p.value[1]]) + " " + hours[p.value[0]] + ":00 — <b>" + num(p.value[2]) + "</b>";
        } },
        xAxis: { type: "category", data: hours, splitArea: { show: true } },
        yAxis: { type: "category", data: data.weekdays, inverse: true, splitArea: { show: true } },
        visualMap: { min: 0, max: Math.max(1, h.max), calculable: false, orient: "horizontal",
                     left: "center", bottom: 0, itemHeight: 120, textStyle: { fontSize: 11 },
                     inRange: { color: ["#f4f6fa", "#9db6ff", "#1f5eff", "#0f1b3d"] } },
        series: [{ type: "heatmap", name: h.name, data: cells, emphasis: { itemStyle: { borderColor: "#000" } } }],
      });
    };

    data.charts.forEach(sectionChart);
    (data.hours || []).forEach(hoursChart);
    devicesChart();
    clientsChart();
    dayChart();
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.resize(); });
    });
    // Printing draws the charts at the width of the page.
    window.addEventListener("beforeprint", function () { charts.forEach(function (c) { c.resize(); }); });
    window.addEventListener("afterprint", function () { charts.forEach(function (c) { c.resize(); }); });
  }
  // --- one day: what made a peak, and the day's curve ------------------------------------------
  // A peak card's link, an episode of the breaches list or a click on a chart's day puts the
  // day panel in place (the HTML the server renders for the same URL) without a reload.
  function openDay(day, metric, href) {
    var panel = document.getElementById("day-panel");
    if (!panel || !data || !window.fetch) { if (href) { window.location.href = href; } return; }
    var url = data.day_fragment + "&day=" + encodeURIComponent(day) + "&metric=" + encodeURIComponent(metric);
    panel.setAttribute("aria-busy", "true");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.text();
    }).then(function (html) {
      panel.innerHTML = html;
      panel.hidden = false;
      panel.removeAttribute("aria-busy");
      dayChart();
      var page = data.day_url + "&day=" + encodeURIComponent(day) + "&metric=" + encodeURIComponent(metric) + "#day-panel";
      window.history.pushState({ table: "" }, "", page);
      var title = document.getElementById("day-title");
      panel.scrollIntoView({ block: "start" });
      if (title) { title.focus({ preventScroll: true }); }
      panel.setAttribute("data-opened", day + " " + metric);
    }).catch(function () {
      panel.removeAttribute("aria-busy");
      if (href) { window.location.href = href; }
    });
  }
  document.addEventListener("click", function (ev) {
    var link = ev.target.closest && ev.target.closest("a[data-day][data-metric]");
    if (!link || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) { return; }
    ev.preventDefault();
    openDay(link.getAttribute("data-day"), link.getAttribute("data-metric"), link.href);
  });

  document.documentElement.setAttribute("data-charts-ready", String(charts.length));
  if (window.performance && performance.mark) { performance.mark("charts-drawn"); }  // bench_browser

  // --- tables in place ----------------------------------------------------------------------
  var spec = readJson("table-data");
  if (!spec || !window.fetch || !window.history || !window.URLSearchParams) { return; }
  var tnf = new Intl.NumberFormat(spec.lang === "en" ? "en-US" : "ru-RU");
  var NBSP = "\u00a0";

  function fmtInt(v) { return spec.lang === "en" ? tnf.format(v) : tnf.format(v).replace(/\s/g, NBSP); }

  function fmtBytes(n) {
    var i = 0;
    while (i + 1 < spec.sizes.length && Math.abs(n) >= spec.sizes[i + 1][0]) { i += 1; }
    var unit = spec.sizes[i];
    if (i === 0) { return fmtInt(n) + NBSP + unit[1]; }
    var tenths = Math.round(n * 10 / unit[0]);  // half up, as the server and Excel round
    var text = new Intl.NumberFormat(spec.lang === "en" ? "en-US" : "ru-RU",
      { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(tenths / 10);
    if (spec.lang !== "en") { text = text.replace(/\s/g, NBSP); }
    return text + NBSP + unit[1];
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function fmtDuration(s) {
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    var u = spec.text;
    if (h) { return h + NBSP + u["unit.h"] + " " + pad(m) + NBSP + u["unit.min"]; }
    if (m) { return m + NBSP + u["unit.min"] + " " + pad(sec) + NBSP + u["unit.s"]; }
    return sec + NBSP + u["unit.s"];
  }

  function fmtInstant(iso) {
    // The API gives the instant in the company's zone: its wall-clock digits are what we show.
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(iso);
    if (!m) { return "—"; }
    return spec.lang === "en" ? m[1] + "-" + m[2] + "-" + m[3] + " " + m[4] + ":" + m[5]
      : m[3] + "." + m[2] + "." + m[1] + " " + m[4] + ":" + m[5];
  }

  function cellText(col, row) {
    var v = row[col.key];
    if ((v === null || v === undefined || v === "") && col.fallback) { v = row[col.fallback]; }
    if (v === null || v === undefined || v === "") { return "—"; }
    switch (col.type) {
      case "instant": return fmtInstant(v);
      case "duration": return fmtDuration(v);
      case "bytes": return fmtBytes(v);
      case "int": return fmtInt(v);
      default:
        if (col.key === "template" || col.key === "client") {
          return spec.labels[col.key][v] || String(v);
        }
        return String(v);
    }
  }

  function shownText(first, last, total) {
    return spec.text["table.shown"].replace("{first}", fmtInt(first)).replace("{last}", fmtInt(last))
      .replace("{total}", fmtInt(total));
  }

  function stateOf(name, params) {
    var t = spec.tables[name], p = t.prefix;
    var page = parseInt(params.get(p + "_page") || "1", 10);
    return { sort: params.get(p + "_sort") || "", order: params.get(p + "_order") || "",
             q: params.get(p + "_q") || "", page: page > 0 ? page : 1 };
  }

  function setState(name, state) {
    var p = spec.tables[name].prefix;
    var params = new URLSearchParams(window.location.search);
    var set = function (k, v) { if (v) { params.set(p + "_" + k, v); } else { params.delete(p + "_" + k); } };
    set("sort", state.sort);
    set("order", state.order);
    set("q", state.q);
    set("page", state.page > 1 ? String(state.page) : "");
    var url = window.location.pathname + "?" + params.toString() + "#" + name;
    window.history.pushState({ table: name }, "", url);
    return url;
  }

  function render(name, section, body, state) {
    var t = spec.tables[name];
    var tbody = section.querySelector("tbody");
    var rows = body.rows.map(function (row) {
      return "<tr>" + t.columns.map(function (col) {
        return "<td class=\"" + (col.numeric ? "num" : "") + "\">" + esc(cellText(col, row)) + "</td>";
      }).join("") + "</tr>";
    });
    tbody.innerHTML = rows.join("");
    var sort = body.sort, order = body.order;
    section.querySelectorAll("thead th").forEach(function (th) {
      var key = th.getAttribute("data-key");
      var link = th.querySelector("a");
      var arrow = link.querySelector(".arrow");
      if (arrow) { arrow.remove(); }
      link.textContent = link.textContent.replace(/\s+$/, "");
      th.classList.toggle("sorted", key === sort);
      if (key === sort) {
        th.setAttribute("aria-sort", order === "asc" ? "ascending" : "descending");
        var span = document.createElement("span");
        span.className = "arrow";
        span.setAttribute("aria-hidden", "true");
        span.textContent = order === "asc" ? "▲" : "▼";
        link.appendChild(document.createTextNode(" "));
        link.appendChild(span);
      } else {
        th.removeAttribute("aria-sort");
      }
    });
    var first = body.rows.length ? body.offset + 1 : 0;
    var last = body.offset + body.rows.length;
    var empty = !body.rows.length;
    section.querySelector(".table-scroll").hidden = empty;
    section.querySelector(".empty").hidden = !empty;
    var pager = section.querySelector(".pager");
    pager.hidden = empty;
    pager.querySelector(".shown").textContent = shownText(first, last, body.total);
    pager.querySelector('[data-step="-1"]').hidden = body.offset === 0;
    pager.querySelector('[data-step="1"]').hidden = last >= body.total;
    state.page = Math.floor(body.offset / spec.page) + 1;
    section.setAttribute("data-state", JSON.stringify({ sort: sort, order: order, q: state.q, page: state.page }));
  }

  function load(name, state) {
    var t = spec.tables[name];
    var section = document.getElementById(name);
    var params = new URLSearchParams(t.params);
    if (state.sort) { params.set("sort", state.sort); }
    if (state.order) { params.set("order", state.order); }
    if (state.q) { params.set("search", state.q); }
    params.set("limit", String(spec.page));
    params.set("offset", String((state.page - 1) * spec.page));
    var error = section.querySelector(".table-error");
    section.setAttribute("aria-busy", "true");
    var started = performance.now();
    return fetch(t.api + "?" + params.toString(), {
      headers: { "Accept": "application/json", "Accept-Language": spec.lang },
      credentials: "same-origin",
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      section.removeAttribute("aria-busy");
      if (!res.ok) {
        error.textContent = spec.text["table.error"].replace("{error}", res.body.error || "");
        error.hidden = false;
        return;
      }
      error.hidden = true;
      render(name, section, res.body, state);
      setState(name, state);
      section.setAttribute("data-updated-ms", String(Math.round(performance.now() - started)));
      section.setAttribute("data-updates", String(1 + parseInt(section.getAttribute("data-updates") || "0", 10)));
    }).catch(function (exc) {
      section.removeAttribute("aria-busy");
      error.textContent = spec.text["table.error"].replace("{error}", String(exc));
      error.hidden = false;
    });
  }

  Object.keys(spec.tables).forEach(function (name) {
    var section = document.getElementById(name);
    if (!section) { return; }
    var t = spec.tables[name];
    var current = function () {
      var saved = section.getAttribute("data-state");
      return saved ? JSON.parse(saved) : stateOf(name, new URLSearchParams(window.location.search));
    };
    section.addEventListener("click", function (ev) {
      var link = ev.target.closest("a");
      if (!link || !section.contains(link)) { return; }
      var state = current();
      if (link.hasAttribute("data-col")) {
        var key = link.getAttribute("data-col");
        var col = t.columns.filter(function (c) { return c.key === key; })[0];
        var active = (state.sort || t.sort) === key;
        var order = state.order || t.order;
        state.order = active ? (order === "asc" ? "desc" : "asc") : col.first;
        state.sort = key;
        state.page = 1;
      } else if (link.hasAttribute("data-step")) {
        state.page = Math.max(1, state.page + parseInt(link.getAttribute("data-step"), 10));
      } else {
        return;
      }
      ev.preventDefault();
      load(name, state);
    });
    var form = section.querySelector("form.search-form");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var state = current();
      state.q = form.querySelector("input[type=search]").value.trim();
      state.page = 1;
      load(name, state);
    });
  });
  // Back and forward between table states restore what the URL says (the server renders it);
  // a jump to an anchor (the skip link, #events) is no table state and changes nothing.
  window.history.replaceState({ table: "" }, "", window.location.href);
  window.addEventListener("popstate", function (ev) {
    if (ev.state && "table" in ev.state) { window.location.reload(); }
  });
})();
