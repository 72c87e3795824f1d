/**
 * Relationships and mood: a graph of how personas feel about each other and about you
 * (`relationship.list`, `relationship.get`), and charts of each persona's mood and social energy over
 * time: the series the server stored (`emotional.history`), followed live (`after_id`), ending at the
 * state now (`emotional.get_state`).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import { Avatar, ErrorBox, pollWhileVisible, useClient, usePersonas } from '../shared.js';
import type { MoodSample, PersonaSummary } from '../types.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip);

interface Edge {
  from: string;
  to: string;
  affinity: number;
  trust: number;
  type: string;
}

const YOU = '__you__';

export function Relations() {
  const client = useClient();
  const { personas } = usePersonas();
  const [edges, setEdges] = useState<Edge[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (personas.length === 0) return;
    void (async () => {
      try {
        const all = await client.call<{ relationships: { persona_id: string; other_kind: string; other_persona_id: string | null; affinity: number; trust: number; relationship_type: string }[] }>(
          'relationship.list',
        );
        const next: Edge[] = all.relationships
          .filter((relation) => relation.other_kind === 'persona' && relation.other_persona_id !== null)
          .map((relation) => ({ from: relation.persona_id, to: relation.other_persona_id!, affinity: relation.affinity, trust: relation.trust, type: relation.relationship_type }));
        // With you: each persona's relationship with this user.
        const withYou = await Promise.all(
          personas.map((persona) =>
            client
              .call<{ relationship: { affinity: number; trust: number; relationship_type: string } | null }>('relationship.get', { persona1_id: persona.id })
              .then((result) => (result.relationship === null ? null : { from: persona.id, to: YOU, affinity: result.relationship.affinity, trust: result.relationship.trust, type: result.relationship.relationship_type }))
              .catch(() => null),
          ),
        );
        setEdges([...next, ...withYou.filter((edge): edge is Edge => edge !== null)]);
      } catch (caught) {
        setError(caught);
      }
    })();
  }, [client, personas.length]);

  const focus = selected ?? personas[0]?.id ?? null;
  return (
    <section aria-labelledby="relations-title">
      <h1 id="relations-title">Relationships and mood</h1>
      <ErrorBox error={error} onDismiss={() => setError(null)} />
      <div class="two-columns">
        <div class="panel">
          <h2>Who feels what</h2>
          <RelationshipGraph personas={personas} edges={edges} />
          <p class="muted small">Green: liking, red: dislike; thicker lines mean more trust. Arrows point from the one who feels to the one felt about.</p>
          <table class="small">
            <caption class="visually-hidden">Relationships as a table</caption>
            <thead>
              <tr>
                <th scope="col">Who</th>
                <th scope="col">About</th>
                <th scope="col">Affinity</th>
                <th scope="col">Trust</th>
                <th scope="col">Kind</th>
              </tr>
            </thead>
            <tbody>
              {edges.map((edge) => (
                <tr key={`${edge.from}-${edge.to}`}>
                  <td>{nameOf(personas, edge.from)}</td>
                  <td>{nameOf(personas, edge.to)}</td>
                  <td>{edge.affinity.toFixed(2)}</td>
                  <td>{edge.trust.toFixed(2)}</td>
                  <td>{edge.type}</td>
                </tr>
              ))}
              {edges.length === 0 && (
                <tr>
                  <td colSpan={5} class="muted">
                    No relationships yet: they grow from conversations.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
        <div class="panel">
          <h2>Mood and energy</h2>
          <div class="persona-tabs" role="group" aria-label="Persona">
            {personas.map((persona) => (
              <button key={persona.id} type="button" class="secondary" aria-pressed={persona.id === focus} onClick={() => setSelected(persona.id)}>
                <Avatar persona={persona} size={20} /> {persona.name}
              </button>
            ))}
          </div>
          {focus !== null && <MoodAndEnergy key={focus} personaId={focus} />}
        </div>
      </div>
    </section>
  );
}

function nameOf(personas: PersonaSummary[], id: string): string {
  if (id === YOU) return 'You';
  return personas.find((persona) => persona.id === id)?.name ?? id;
}

/** A circle of personas with you in the middle; each relationship an arrow coloured by affinity. */
function RelationshipGraph({ personas, edges }: { personas: PersonaSummary[]; edges: Edge[] }) {
  const size = 360;
  const centre = size / 2;
  const radius = size / 2 - 48;
  const positions = new Map<string, { x: number; y: number }>();
  personas.forEach((persona, index) => {
    const angle = (index / Math.max(1, personas.length)) * 2 * Math.PI - Math.PI / 2;
    positions.set(persona.id, { x: centre + radius * Math.cos(angle), y: centre + radius * Math.sin(angle) });
  });
  positions.set(YOU, { x: centre, y: centre });
  const colour = (affinity: number): string => (affinity >= 0 ? `rgba(22, 130, 70, ${0.35 + affinity * 0.65})` : `rgba(190, 40, 40, ${0.35 - affinity * 0.65})`);
  return (
    <svg viewBox={`0 0 ${size} ${size}`} class="graph" role="img" aria-label="Relationship graph between the personas and you">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#666" />
        </marker>
      </defs>
      {edges.map((edge) => {
        const from = positions.get(edge.from);
        const to = positions.get(edge.to);
        if (from === undefined || to === undefined) return null;
        // Offset both directions of a pair sideways so that A→B and B→A do not overlap.
        const dx = to.x - from.x;
        const dy = to.y - from.y;
        const length = Math.hypot(dx, dy) || 1;
        const nx = (-dy / length) * 6;
        const ny = (dx / length) * 6;
        const shorten = 26 / length;
        return (
          <line
            key={`${edge.from}-${edge.to}`}
            x1={from.x + nx + dx * shorten}
            y1={from.y + ny + dy * shorten}
            x2={to.x + nx - dx * shorten}
            y2={to.y + ny - dy * shorten}
            stroke={colour(edge.affinity)}
            stroke-width={1 + edge.trust * 5}
            marker-end="url(#arrow)"
          >
            <title>
              {nameOf(personas, edge.from)} → {nameOf(personas, edge.to)}: {edge.type}, affinity {edge.affinity.toFixed(2)}
            </title>
          </line>
        );
      })}
      {[...positions.entries()].map(([id, point], index) => {
        // The persona's avatar inside its circle, as everywhere else in the app; "You" keeps its initial.
        const avatar = personas.find((persona) => persona.id === id)?.avatar_url;
        return (
          <g key={id}>
            <clipPath id={`node-${index}`}>
              <circle cx={point.x} cy={point.y} r={21} />
            </clipPath>
            <circle cx={point.x} cy={point.y} r={22} fill={id === YOU ? '#fde68a' : '#e0dbff'} stroke="#5b4bc4" />
            {avatar === undefined ? (
              <text x={point.x} y={point.y + 5} text-anchor="middle" font-size="15" font-weight="600">
                {nameOf(personas, id).slice(0, 1)}
              </text>
            ) : (
              <image href={avatar} x={point.x - 21} y={point.y - 21} width={42} height={42} clip-path={`url(#node-${index})`} preserveAspectRatio="xMidYMid slice" />
            )}
            <text x={point.x} y={point.y + 38} text-anchor="middle" font-size="13">
              {nameOf(personas, id)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

function useChart(canvas: { current: HTMLCanvasElement | null }, build: () => ConstructorParameters<typeof Chart>[1] | null, deps: unknown[]): void {
  useEffect(() => {
    if (canvas.current === null) return;
    const config = build();
    if (config === null) return;
    const chart = new Chart(canvas.current, config);
    return () => chart.destroy();
  }, deps);
}

/** How often the charts ask for samples recorded since the last ones (and the state now). */
const FOLLOW_MS = 10_000;
/** Samples loaded when a chart opens (the newest), and kept while it follows. */
const SERIES_LIMIT = 1_000;

/** A point of the charts: a stored sample, or the state now (`live`, not stored). */
interface ChartPoint extends Pick<MoodSample, 'valence' | 'arousal' | 'stress_level' | 'social_battery' | 'max_social_energy' | 'mood' | 'cause'> {
  at: number;
}

/**
 * The persona's stored series (loaded on open), then every {@link FOLLOW_MS} what was recorded since,
 * and a last point for the state now (rest keeps changing energy and mood between samples).
 */
function useMoodSeries(personaId: string): { points: ChartPoint[]; loaded: boolean; error: unknown } {
  const client = useClient();
  const [samples, setSamples] = useState<ChartPoint[]>([]);
  const [now, setNow] = useState<ChartPoint | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let lastId: number | null = null;
    let stopped = false;
    const toPoint = (sample: MoodSample): ChartPoint => ({ ...sample, at: Date.parse(sample.at) });
    const follow = async (): Promise<void> => {
      try {
        const page = await client.call<{ samples: MoodSample[]; last_id: number | null }>('emotional.history', {
          persona_id: personaId,
          limit: SERIES_LIMIT,
          ...(lastId === null ? {} : { after_id: lastId }),
        });
        const state = await client.call<{ emotional_state: { mood: string; valence: number; arousal: number; stress_level: number; social_battery: number; energy_level: number } }>(
          'emotional.get_state',
          { persona_id: personaId },
        );
        if (stopped) return;
        if (page.last_id !== null) lastId = page.last_id;
        if (page.samples.length > 0) setSamples((previous) => [...previous, ...page.samples.map(toPoint)].slice(-SERIES_LIMIT));
        const current = state.emotional_state;
        const max = current.energy_level > 0 ? current.social_battery / current.energy_level : 0;
        setNow({ at: Date.now(), cause: 'rest', mood: current.mood as MoodSample['mood'], valence: current.valence, arousal: current.arousal, stress_level: current.stress_level, social_battery: current.social_battery, max_social_energy: max });
        setLoaded(true);
        setError(null);
      } catch (caught) {
        if (!stopped) setError(caught);
      }
    };
    const stopPolling = pollWhileVisible(() => void follow(), FOLLOW_MS);
    return () => {
      stopped = true;
      stopPolling();
    };
  }, [client, personaId]);
  return { points: now === null ? samples : [...samples, now], loaded, error };
}

/** Labels as precise as the span needs: seconds within a few minutes, the date across days. */
function timeLabel(points: readonly ChartPoint[]): (value: number | string) => string {
  const first = points[0]?.at ?? 0;
  const last = points.at(-1)?.at ?? 0;
  const format: Intl.DateTimeFormatOptions =
    last - first < 10 * 60_000
      ? { hour: '2-digit', minute: '2-digit', second: '2-digit' }
      : new Date(first).toDateString() === new Date(last).toDateString()
        ? { hour: '2-digit', minute: '2-digit' }
        : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
  return (value) => new Date(Number(value)).toLocaleString([], format);
}

/** Time on a linear axis (no date adapter needed): the gaps between changes show as they were. */
function timeAxis(points: readonly ChartPoint[]) {
  // From the first sample to now, not rounded out to "nice" numbers hours before the first one.
  return { type: 'linear' as const, min: points[0]?.at, max: points.at(-1)?.at, ticks: { maxTicksLimit: 6, maxRotation: 0, callback: timeLabel(points) } };
}

function MoodAndEnergy({ personaId }: { personaId: string }) {
  const { points, loaded, error } = useMoodSeries(personaId);
  const stored = points.length > 0 ? points.length - 1 : 0;
  return (
    <div data-testid="mood-charts" data-samples={stored}>
      <ErrorBox error={error} />
      <MoodChart points={points} />
      <EnergyChart points={points} />
      <p class="muted small">
        {!loaded
          ? 'Loading the recorded history…'
          : stored === 0
            ? 'No changes recorded yet: the server records a sample whenever a conversation or a setting changes the mood or the energy.'
            : `${stored} recorded ${stored === 1 ? 'change' : 'changes'} since ${new Date(points[0]!.at).toLocaleString()}, and now; updated every ${FOLLOW_MS / 1000} s.`}
      </p>
    </div>
  );
}

/** One figure of the samples over time, a straight line per series. */
interface TimeSeries {
  label: string;
  color: string;
  value: (point: ChartPoint) => number;
}

function MoodChart({ points }: { points: ChartPoint[] }) {
  return (
    <TimeSeriesChart
      points={points}
      caption="Mood over time"
      empty="No mood recorded yet."
      series={[
        { label: 'pleasant (valence)', color: '#168246', value: (point) => point.valence },
        { label: 'excited (arousal)', color: '#5b4bc4', value: (point) => point.arousal },
        { label: 'stress', color: '#be2828', value: (point) => point.stress_level },
      ]}
      y={{ min: -1, max: 1 }}
      spoken={(point) => point.mood}
    />
  );
}

function EnergyChart({ points }: { points: ChartPoint[] }) {
  return (
    <TimeSeriesChart
      points={points}
      caption="Social energy over time"
      empty="No energy recorded yet."
      series={[{ label: 'social energy', color: '#c47a1b', value: (point) => point.social_battery }]}
      y={{ min: 0, suggestedMax: Math.max(...points.map((point) => point.max_social_energy)) }}
      spoken={(point) => String(Math.round(point.social_battery))}
    />
  );
}

function TimeSeriesChart(props: {
  points: ChartPoint[];
  caption: string;
  empty: string;
  series: TimeSeries[];
  y: { min: number; max?: number; suggestedMax?: number };
  /** What a screen reader hears of a point. */
  spoken: (point: ChartPoint) => string;
}) {
  const { points, caption, empty, series, y, spoken } = props;
  const canvas = useRef<HTMLCanvasElement>(null);
  useChart(
    canvas,
    () =>
      points.length === 0
        ? null
        : {
            type: 'line',
            data: {
              datasets: series.map(({ label, color, value }) => ({
                label,
                data: points.map((point) => ({ x: point.at, y: value(point) })),
                borderColor: color,
                backgroundColor: color,
                tension: 0,
              })),
            },
            // Straight lines: between two samples the figures drift smoothly, and a curve would invent overshoots.
            options: { animation: false, responsive: true, scales: { x: timeAxis(points), y } },
          },
    [points],
  );
  return (
    <figure>
      <figcaption>{caption}</figcaption>
      {points.length === 0 ? <p class="muted">{empty}</p> : <canvas ref={canvas} role="img" aria-label={`${caption}: ${describe(points, spoken)}`} />}
    </figure>
  );
}

/** The chart in words for screen readers: where the series starts and where it is now. */
function describe(points: readonly ChartPoint[], value: (point: ChartPoint) => string): string {
  const first = points[0]!;
  const last = points.at(-1)!;
  return points.length === 1 ? `now ${value(last)}` : `from ${value(first)} at ${new Date(first.at).toLocaleString()} to ${value(last)} now, ${points.length} points`;
}
