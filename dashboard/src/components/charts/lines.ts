export interface LineSeries {
  label: string;
  color: string;
  x: number[];
  y: (number | null)[];
  dash?: boolean;
}
