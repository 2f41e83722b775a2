// The type a dashboard JSON must satisfy: Grafana's published Dashboard schema, with each panel's
// options and custom field config checked against the schema of its own plugin (so a misspelled
// option is an error too). tools/checks/dashboards.py writes each dashboard as
// `export const dashboard = <the JSON> satisfies CheckedDashboard;` and runs tsc over it.
// The panel types this project uses are the CheckedPanel union below: a panel of any other type fails.
import type { Dashboard, FieldConfig, FieldConfigSource, Panel, RowPanel } from '@grafana/schema';
import type * as barchart from '@grafana/schema/dist/esm/raw/composable/barchart/panelcfg/x/BarChartPanelCfg_types.gen';
import type * as bargauge from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen';
import type * as gauge from '@grafana/schema/dist/esm/raw/composable/gauge/panelcfg/x/GaugePanelCfg_types.gen';
import type * as heatmap from '@grafana/schema/dist/esm/raw/composable/heatmap/panelcfg/x/HeatmapPanelCfg_types.gen';
import type * as histogram from '@grafana/schema/dist/esm/raw/composable/histogram/panelcfg/x/HistogramPanelCfg_types.gen';
import type * as piechart from '@grafana/schema/dist/esm/raw/composable/piechart/panelcfg/x/PieChartPanelCfg_types.gen';
import type * as stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as statetimeline from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';
import type * as statushistory from '@grafana/schema/dist/esm/raw/composable/statushistory/panelcfg/x/StatusHistoryPanelCfg_types.gen';
import type * as table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as text from '@grafana/schema/dist/esm/raw/composable/text/panelcfg/x/TextPanelCfg_types.gen';
import type * as timeseries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

// The schema's string enums (ThresholdsMode.Absolute, ...) as the plain strings JSON holds; Loose<T>,
// every property optional: plugin options that Grafana fills in with defaults.
type Json<T, Optional = false> =
  T extends string ? `${T}` :
  T extends number | boolean | null | undefined ? T :
  T extends ReadonlyArray<infer U> ? Array<Json<U, Optional>> :
  T extends object ? (Optional extends true ? { [K in keyof T]?: Json<T[K], true> } : { [K in keyof T]: Json<T[K]> }) :
  T;
type Loose<T> = Json<T, true>;

type Typed<Type extends string, Options, Custom> = Json<Omit<Panel, 'type' | 'options' | 'fieldConfig'>> & {
  type: Type;
  options?: Loose<Options>;
  fieldConfig?: Json<Omit<FieldConfigSource, 'defaults'>> & {
    defaults: Json<Omit<FieldConfig, 'custom'>> & { custom?: Loose<Custom> };
  };
};
type NoCustom = Record<string, never>;
export type CheckedPanel =
  | Typed<'timeseries', timeseries.Options, timeseries.FieldConfig>
  | Typed<'stat', stat.Options, NoCustom>
  | Typed<'gauge', gauge.Options, NoCustom>
  | Typed<'bargauge', bargauge.Options, NoCustom>
  | Typed<'table', table.Options, table.FieldConfig>
  | Typed<'text', text.Options, NoCustom>
  | Typed<'piechart', piechart.Options, piechart.FieldConfig>
  | Typed<'heatmap', heatmap.Options, heatmap.FieldConfig>
  | Typed<'histogram', histogram.Options, histogram.FieldConfig>
  | Typed<'state-timeline', statetimeline.Options, statetimeline.FieldConfig>
  | Typed<'status-history', statushistory.Options, statushistory.FieldConfig>
  | Typed<'barchart', barchart.Options, barchart.FieldConfig>;
export type CheckedRow = Json<Omit<RowPanel, 'panels'>> & { panels: Array<CheckedPanel> };
export type CheckedDashboard = Json<Omit<Dashboard, 'panels'>> & { panels?: Array<CheckedPanel | CheckedRow> };
