// Runs the cases internal/policydiff generates through
// @cloud-copilot/iam-simulate (pinned in package-lock.json), in one
// process: reads a JSON array of cases on stdin, writes a JSON array of
// verdicts (same order) on stdout.
//
// Case:    {id, policy, principal, action, resource, resourceAccount, context}
// Verdict: {id, overall, resource, readded, error}
//   resource: the simulator's verdict on the resource (key) policy alone,
//     result.analysis.resourceAnalysis.result: Allowed, ExplicitlyDenied,
//     ImplicitlyDenied, NotApplicable, AllowedForAccount, DeniedForAccount.
//   overall: its verdict with no identity policies, SCPs or RCPs.
//   readded: context keys the simulator would have dropped and this runner
//     passed on (see below).
//   error: set when the simulator rejects the case (policy validation,
//     unknown action, ...).
//
// Every case first goes through runSimulation, which validates the policy
// and the request. runSimulation drops context keys it does not list for
// the action; its variable-key matcher only knows "/" variables such as
// aws:PrincipalTag/x, so it drops every kms:EncryptionContext:<name> key
// (listed as "kms:EncryptionContext:${EncryptionContextKey}", a ":"
// variable) although KMS sends them for Decrypt, Encrypt and
// GenerateDataKey*. For those keys alone the runner evaluates again with
// the simulator's own core engine (the same call runSimulation makes) on
// the normalized context plus those keys.
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { loadPolicy } from '@cloud-copilot/iam-policy'

// Internal modules of the pinned version, imported by path (the package
// exports only its index).
const base = new URL('./node_modules/@cloud-copilot/iam-simulate/dist/esm/', import.meta.url)
const { authorize } = await import(new URL('core_engine/CoreSimulatorEngine.js', base))
const { AwsRequestImpl } = await import(new URL('request/request.js', base))
const { RequestContextImpl } = await import(new URL('requestContext.js', base))
const { DiscoveryContextKeyConstraints } = await import(new URL('context_keys/discoveryContextKeyConstraints.js', base))
const { normalizeSimulationParameters } = await import(new URL('simulation_engine/simulationEngine.js', base))

const encryptionContextKey = /^kms:encryptioncontext:./i

const chunks = []
for await (const c of process.stdin) chunks.push(c)
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const out = []
for (const c of cases) {
  const sim = {
    request: {
      principal: c.principal,
      action: c.action,
      resource: { resource: c.resource, accountId: c.resourceAccount },
      contextVariables: c.context || {}
    },
    identityPolicies: [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: c.policy
  }
  try {
    const r = await runSimulation(sim, {})
    if (r.resultType === 'error') {
      out.push({ id: c.id, error: JSON.stringify(r.errors) })
      continue
    }
    if (r.resultType !== 'single') {
      out.push({ id: c.id, error: 'unexpected ' + r.resultType + ' result' })
      continue
    }
    let analysis = r.result.analysis
    const dropped = (r.result.ignoredContextKeys || []).filter((k) => encryptionContextKey.test(k))
    if (dropped.length > 0) {
      const { validContextValues } = await normalizeSimulationParameters(sim, undefined)
      for (const k of dropped) {
        const v = sim.request.contextVariables[k]
        validContextValues[k] = Array.isArray(v) && v.length === 1 ? v[0] : v
      }
      analysis = authorize({
        request: new AwsRequestImpl(c.principal, { resource: c.resource, accountId: c.resourceAccount },
          c.action, new RequestContextImpl(validContextValues), false),
        sessionPolicy: undefined,
        identityPolicies: [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: loadPolicy(c.policy, { name: undefined }),
        permissionBoundaries: undefined,
        vpcEndpointPolicies: undefined,
        simulationParameters: { simulationMode: 'Strict', discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]) },
        serviceSettings: { s3: { blockPublicAccess: undefined } }
      })
    }
    out.push({ id: c.id, overall: analysis.result, resource: analysis.resourceAnalysis?.result ?? '', readded: dropped })
  } catch (e) {
    out.push({ id: c.id, error: String((e && e.stack) || e) })
  }
}
process.stdout.write(JSON.stringify(out))
