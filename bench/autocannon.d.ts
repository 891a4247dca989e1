// The little of autocannon's API that bench/serveLoad.ts uses (the package ships no types).
declare module 'autocannon' {
  export interface Request { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer }
  export interface Options {
    url: string; connections?: number; duration?: number; pipelining?: number; timeout?: number;
    method?: string; headers?: Record<string, string>; body?: string | Buffer; requests?: Request[];
  }
  export interface Histogram { average: number; mean: number; p50: number; p90: number; p99: number; max: number; min: number; total: number }
  export interface Result {
    requests: Histogram; latency: Histogram; throughput: Histogram;
    errors: number; timeouts: number; non2xx: number; duration: number;
    '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number;
    statusCodeStats: Record<string, { count: number }>;
  }
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
