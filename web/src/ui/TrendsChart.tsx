/** A project's daily quality score and failed runs (ECharts, loaded only with this chart). The
 * same figures are given as text for screen readers (a canvas says nothing by itself). */
import { useEffect, useRef } from "react";
import { Box, Typography } from "@mui/material";

export interface TrendPoint { day: string; runs: number; completed: number; failed: number; score: number | null; failed_steps: number | null }

export function trendSummary(points: TrendPoint[]): string {
  if (!points.length) return "No runs in this period.";
  const last = points[points.length - 1];
  const runs = points.reduce((n, p) => n + p.runs, 0);
  const failed = points.reduce((n, p) => n + p.failed, 0);
  return `${runs} runs over ${points.length} days, ${failed} failed; latest quality score ${last.score ?? "—"} on ${last.day}.`;
}

export function TrendsChart({ points }: { points: TrendPoint[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current || !points.length) return;
    let chart: { dispose(): void; resize(): void } | null = null;
    let live = true;
    const resize = () => chart?.resize();
    void (async () => {
      const echarts = await import("echarts/core");
      const [{ LineChart, BarChart }, { GridComponent, TooltipComponent, LegendComponent }, { CanvasRenderer }] =
        await Promise.all([import("echarts/charts"), import("echarts/components"), import("echarts/renderers")]);
      if (!live || !box.current) return;
      echarts.use([LineChart, BarChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);
      const c = echarts.init(box.current);
      c.setOption({
        aria: { enabled: false },  // the container's own label says the figures (ECharts' would replace it)
        tooltip: { trigger: "axis" },
        legend: { data: ["Quality score", "Failed runs"] },
        xAxis: { type: "category", data: points.map((p) => p.day) },
        yAxis: [{ type: "value", name: "score", min: 0, max: 100 }, { type: "value", name: "runs", minInterval: 1 }],
        series: [
          { name: "Quality score", type: "line", data: points.map((p) => p.score), color: "#1d4f91" },
          { name: "Failed runs", type: "bar", yAxisIndex: 1, data: points.map((p) => p.failed), color: "#c62828" },
        ],
      });
      chart = c;
      window.addEventListener("resize", resize);
    })();
    return () => { live = false; window.removeEventListener("resize", resize); chart?.dispose(); };
  }, [points]);
  return (
    <>
      <Typography data-testid="trend-summary">{trendSummary(points)}</Typography>
      {points.length > 0 && <Box ref={box} role="img" aria-label={`Quality score trend: ${trendSummary(points)}`} sx={{ height: 280 }} />}
    </>
  );
}
