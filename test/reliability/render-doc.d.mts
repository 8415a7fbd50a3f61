export interface CatalogueDoc {
  rows: Array<{ id: string; layer: string; what: string; expect: { kind: string; code?: string; mentions?: string }; note?: string }>;
}
export function renderFailureModes(catalogue: CatalogueDoc): string;
