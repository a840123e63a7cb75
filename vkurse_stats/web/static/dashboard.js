// Dashboard charts: reads the JSON block #chart-data (the CSP forbids inline scripts) and draws
// them with the vendored Apache ECharts. All figures are computed on the server.
(function () {
  "use strict";
  var holder = document.getElementById("chart-data");
  if (!holder || typeof echarts === "undefined") { return; }
  var data = JSON.parse(holder.textContent);
  var palette = ["#1f5eff", "#13a38b", "#f08c00", "#8a4dff", "#e8467c", "#5b6b8c", "#2bb0ed"];
  var charts = [];
  var nf = new Intl.NumberFormat(data.lang === "en" ? "en-US" : "ru-RU");

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function shortDate(iso) {
    var p = iso.split("-");
    return data.lang === "en" ? p[1] + "-" + p[2] : p[2] + "." + p[1];
  }

  function labelled(text) {
    return function (p) { return text + ": " + nf.format(Math.round(p.value * 10) / 10); };
  }

  function make(id) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    var chart = echarts.init(el, null, { renderer: "canvas" });
    charts.push(chart);
    return chart;
  }

  function baseOption() {
    return {
      color: palette,
      animation: false,
      grid: { left: 48, right: 24, top: 56, bottom: 40, containLabel: true },
      legend: { top: 4, type: "plain", textStyle: { fontSize: 11 }, itemGap: 14 },
      xAxis: { type: "category", data: data.days, axisLabel: { formatter: shortDate } },
      yAxis: { type: "value", minInterval: 1 },
      dataZoom: data.days.length > 62 ? [{ type: "inside" }, { type: "slider", height: 16, bottom: 6 }] : [],
    };
  }

  function sectionChart(spec) {
    var chart = make("chart-" + spec.id);
    if (!chart) { return; }
    var series = spec.series.map(function (s) {
      var out = {
        name: s.name, type: s.main ? "bar" : "line", data: s.data, symbol: "circle",
        symbolSize: 4, barMaxWidth: 18, emphasis: { focus: "series" },
      };
      if (s.overlay) { out.lineStyle = { type: "dashed", width: 1.5 }; }
      if (s.main) {
        out.itemStyle = { borderRadius: [3, 3, 0, 0] };
        var lines = [{ type: "average", name: data.text.average,
                       label: { formatter: labelled(data.text.average), position: "insideEndTop" },
                       lineStyle: { color: "#5b6b8c", type: "dotted" } }];
        if (spec.limit !== null && spec.limit !== undefined) {
          lines.push({ yAxis: spec.limit, name: data.text.limit_line,
                       label: { formatter: labelled(data.text.limit_line), position: "insideEndTop",
                                color: "#b3261e", fontWeight: "bold" },
                       lineStyle: { color: "#d93025", type: "solid", width: 2 } });
        }
        out.markLine = { symbol: "none", precision: 1, data: lines };
        out.markPoint = { symbolSize: 44, label: { fontSize: 11 },
                          data: [{ type: "max", name: data.text.peak_day }] };
      }
      return out;
    });
    var option = baseOption();
    option.series = series;
    var highest = 0;
    spec.series.forEach(function (s) { highest = Math.max.apply(null, [highest].concat(s.data)); });
    if (spec.limit && highest < spec.limit) {
      // Keep the limit line in view even when usage stays far below it.
      option.yAxis.max = Math.ceil(spec.limit * 1.1);
    }
    if (spec.series.length > 4) { option.grid.top = 64; }
    option.tooltip = {
      trigger: "axis", confine: true,
      formatter: function (items) {
        if (!items.length) { return ""; }
        var i = items[0].dataIndex;
        var lines = ["<b>" + esc(data.days[i]) + "</b>"];
        spec.tooltip.forEach(function (row) {
          var at = row.at[i] ? " (" + esc(row.at[i]) + ")" : "";
          lines.push(esc(row.name) + ": <b>" + nf.format(row.values[i]) + "</b>" + at);
        });
        spec.series.forEach(function (s) {
          if (s.overlay) { lines.push(esc(s.full) + ": <b>" + nf.format(s.data[i]) + "</b>"); }
        });
        return lines.join("<br>");
      },
    };
    chart.setOption(option);
  }

  function devicesChart() {
    var chart = make("chart-devices");
    if (!chart) { return; }
    var rows = data.devices.slice().reverse();
    chart.setOption({
      color: palette, animation: false,
      grid: { left: 8, right: 32, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: rows.map(function (r) { return r.name; }),
               axisLabel: { width: 200, overflow: "truncate" } },
      series: [{ type: "bar", name: document.getElementById("chart-devices").getAttribute("aria-label"),
                 data: rows.map(function (r) { return r.users; }), barMaxWidth: 16,
                 label: { show: true, position: "right", fontSize: 11 } }],
    });
  }

  function clientsChart() {
    var chart = make("chart-clients");
    if (!chart) { return; }
    var option = baseOption();
    option.tooltip = { trigger: "axis", confine: true };
    option.series = data.clients.names.map(function (name) {
      return { name: name, type: "bar", stack: "clients", data: data.clients.series[name],
               barMaxWidth: 18 };
    });
    chart.setOption(option);
  }

  data.charts.forEach(sectionChart);
  devicesChart();
  clientsChart();
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
  document.documentElement.setAttribute("data-charts-ready", String(charts.length));
})();
