// The layer walls of docs/architecture.md (and DESIGN.md), checked by `npm run lint` (and so by CI).
// Imports point inwards: transports → rpc → services → ports/domain; adapters implement ports; only the
// composition root (src/app/) and the command line (src/cli/) may know every layer.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'A circular import is a design smell to remove, not to work around (STYLE.md).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'domain-is-pure',
      comment: 'The domain imports nothing of ours but the domain, and no node: modules (no I/O, no clock).',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { pathNot: ['^src/domain/', '^node_modules/'] },
    },
    {
      name: 'domain-no-node',
      comment: 'The domain does no I/O: no node: built-ins.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'ports-know-only-domain',
      comment: 'Ports are interfaces in the domain\'s words: they import the domain and other ports only.',
      severity: 'error',
      from: { path: '^src/ports/' },
      to: { pathNot: ['^src/ports/', '^src/domain/', '^node_modules/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'services-know-domain-and-ports',
      comment: 'Use cases depend on the domain and on ports, never on adapters, rpc, transports or wiring.',
      severity: 'error',
      from: { path: '^src/services/' },
      to: { path: ['^src/adapters/', '^src/rpc/', '^src/transports/', '^src/app/', '^src/cli/', '^src/config/'] },
    },
    {
      name: 'adapters-implement-ports',
      comment: 'Adapters implement ports over real technology; they do not reach into use cases or the edges.',
      severity: 'error',
      from: { path: '^src/adapters/' },
      to: { path: ['^src/services/', '^src/rpc/', '^src/transports/', '^src/app/', '^src/cli/'] },
    },
    {
      name: 'rpc-knows-services-not-adapters',
      comment: 'The method registry calls services; it never touches adapters, transports or wiring.',
      severity: 'error',
      from: { path: '^src/rpc/' },
      to: { path: ['^src/adapters/', '^src/transports/', '^src/app/', '^src/cli/'] },
    },
    {
      name: 'transports-at-the-edge',
      comment: 'Transports frame, authenticate and limit; they call the registry and narrow ports, not adapters or the wiring.',
      severity: 'error',
      from: { path: '^src/transports/' },
      to: { path: ['^src/adapters/', '^src/app/', '^src/cli/'] },
    },
    {
      name: 'config-is-a-leaf',
      comment: 'The config schema and loader know nothing of the layers that read them.',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: ['^src/(adapters|services|rpc|transports|app|cli|ports)/'] },
    },
    {
      name: 'nothing-imports-the-edges',
      comment: 'Only the command line (and the simulator it runs, src/simulation/) starts the composition root; nothing imports the command line.',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/cli/', '^src/app/', '^src/simulation/'] },
      to: { path: ['^src/app/', '^src/cli/'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
