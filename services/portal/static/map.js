// The grid map, drawn by ECharts itself from the place registry's GeoJSON (no tile server).
"use strict";

async function placeShapes(root, level) {
  const r = await fetch(`/geo/places?root=${root}&level=${level}`);
  if (!r.ok) throw new Error(`map ${root}: ${r.status}`);
  return r.json();
}

// opts: {root, level, values: {code: n}, onPick(code, [lon, lat]), highlight: code, title}
async function gridMap(container, opts) {
  const geo = await placeShapes(opts.root, opts.level || "grid");
  const mapName = `places-${opts.root}-${opts.level || "grid"}`;
  echarts.registerMap(mapName, geo);
  const names = {};
  geo.features.forEach((f) => { names[f.properties.name] = f.properties; });
  const chart = echarts.init(container, null, { renderer: "canvas" });
  const state = { chart, names, picked: null, values: opts.values || {} };
  state.render = () => chart.setOption(mapOption(mapName, state, opts), true);
  state.render();
  if (opts.onPick) {
    chart.getZr().on("click", (e) => {
      const lonlat = chart.convertFromPixel({ geoIndex: 0 }, [e.offsetX, e.offsetY]);
      if (!lonlat) return;
      const hit = geo.features.find((f) => insideFeature(f, lonlat));
      if (!hit) return;
      state.picked = lonlat;
      state.render();
      opts.onPick(hit.properties.name, lonlat, hit.properties);
    });
  }
  window.addEventListener("resize", () => chart.resize());
  return state;
}

function mapOption(mapName, state, opts) {
  const values = Object.values(state.values);
  const max = Math.max(1, ...values);
  const data = Object.keys(state.names).map((code) => ({ name: code, value: state.values[code] || 0 }));
  const option = {
    tooltip: { trigger: "item", formatter: (p) => {
      const place = state.names[p.name];
      const label = place ? placeName(place) : p.name;
      return opts.values ? `${label}<br>${t("total")}: ${p.value || 0}` : label;
    } },
    geo: { map: mapName, roam: true, zoom: 1.05, top: 10, bottom: opts.values ? 50 : 10, label: { show: false },
      itemStyle: { areaColor: "#eef3f8", borderColor: "#7a8ca3", borderWidth: 0.6 },
      emphasis: { label: { show: false }, itemStyle: { areaColor: "#ffd666" } },
      select: { disabled: true },
      regions: opts.highlight ? [{ name: opts.highlight, itemStyle: { areaColor: "#bae0ff", borderColor: "#1677ff", borderWidth: 2 } }] : [] },
    series: [
      { type: "map", geoIndex: 0, data },
      { type: "scatter", coordinateSystem: "geo", symbolSize: 16, z: 5,
        itemStyle: { color: "#d4380d", borderColor: "#fff", borderWidth: 2 },
        data: state.picked ? [state.picked] : [] },
    ],
  };
  if (opts.values) {
    option.visualMap = { min: 0, max, orient: "horizontal", left: "center", bottom: 4, itemHeight: 120,
      itemWidth: 12, calculable: true, seriesIndex: 0,
      inRange: { color: ["#f0f5ff", "#69b1ff", "#0958d9", "#cf1322"] } };
  }
  return option;
}

function insideFeature(feature, [x, y]) {
  const g = feature.geometry;
  const polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
  return polygons.some((rings) => insideRing(rings[0], x, y));
}

function insideRing(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
