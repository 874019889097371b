// The ECharts modules Jig's dashboards use (ui/static/jig.js initCharts): bar, line and pie
// charts on a grid with a tooltip, drawn on canvas. The dark theme of the big-screen board is in core.
// Add a chart type or component here when a dashboard widget needs it, then run ./build.sh.
import * as echarts from 'echarts/core';
import { BarChart, LineChart, PieChart } from 'echarts/charts';
import { GridComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([BarChart, LineChart, PieChart, GridComponent, TooltipComponent, CanvasRenderer]);
window.echarts = echarts;
