// Alibaba's own Node SDK as the judge of our ACS3 signature and of the fake ECS endpoint
// (run by alibabacloud_provider_test with NODE_PATH=tests/peers/npm/node_modules).
//
//   node sdk_judge.js sign <request.json>
//     The SDK's canonicalization and signature (@alicloud/openapi-core getAuthorization) of the
//     request in the file: {method, pathname, query, headers, body, accessKeyId, accessKeySecret}.
//     The SDK adds x-acs-content-sha256 itself. Prints {"authorization": "...", "sha256": "..."}.
//
//   node sdk_judge.js calls <endpoint host:port> <region> <accessKeyId> <secret> [token]
//     The SDK's ECS client (@alicloud/ecs20140526) makes real calls over http to the endpoint:
//     RunInstances as upstream builds it, DescribeInstances until the private IP shows,
//     DeleteInstance (Force), then DeleteInstance again and a throttled DescribeInstanceTypes
//     (the test scripts it) to see the SDK read Alibaba's error bodies. Prints what it saw as JSON.
'use strict';

const fs = require('fs');

async function sign(file) {
  const core = require('@alicloud/openapi-core');
  const Util = core.OpenApiUtil;
  const req = JSON.parse(fs.readFileSync(file, 'utf8'));
  const alg = 'ACS3-HMAC-SHA256';
  const payload = Util.hash(Buffer.from(req.body || '', 'utf8'), alg).toString('hex');
  const headers = Object.assign({}, req.headers, { 'x-acs-content-sha256': payload });
  const request = { method: req.method, pathname: req.pathname, query: req.query, headers };
  const authorization =
      Util.getAuthorization(request, alg, payload, req.accessKeyId, req.accessKeySecret);
  process.stdout.write(JSON.stringify({ authorization, sha256: payload }));
}

async function calls(endpoint, region, ak, sk, token) {
  const Ecs = require('@alicloud/ecs20140526');
  const Client = Ecs.default;
  const config = { accessKeyId: ak, accessKeySecret: sk, endpoint, protocol: 'http', regionId: region };
  if (token) config.securityToken = token;
  const { $OpenApiUtil } = require('@alicloud/openapi-core');
  const client = new Client(new $OpenApiUtil.Config(config));
  const out = {};
  const run = new Ecs.RunInstancesRequest({
    regionId: region,
    amount: 1,
    minAmount: 1,
    imageId: 'm-sdkimage',
    instanceType: 'ecs.g8i.xlarge',
    instanceChargeType: 'PostPaid',
    securityGroupIds: ['sg-2ze0000000000000001', 'sg-2ze0000000000000002'],
    vSwitchId: 'vsw-2ze0000000000000001',
    userData: Buffer.from('#cloud-config\n').toString('base64'),
    tag: [new Ecs.RunInstancesRequestTag({ key: 'io.peerpods.sandbox-id', value: 'sdk-sandbox' }),
          new Ecs.RunInstancesRequestTag({ key: 'team', value: 'a b/c' })],
    instanceName: 'podvm-sdk-12345678',
    keyPairName: 'kp-1',
    internetChargeType: 'PayByTraffic',
    internetMaxBandwidthOut: 100,
    securityOptions: new Ecs.RunInstancesRequestSecurityOptions({ confidentialComputingMode: 'TDX' }),
    systemDisk: new Ecs.RunInstancesRequestSystemDisk({ size: '40', category: 'cloud_essd' }),
    clientToken: 'sdk-token-1',
  });
  const created = await client.runInstances(run);
  const id = created.body.instanceIdSets.instanceIdSet[0];
  out.instanceId = id;
  for (let i = 0; i < 10; i++) {
    const d = await client.describeInstances(new Ecs.DescribeInstancesRequest(
        { regionId: region, instanceIds: JSON.stringify([id]) }));
    const inst = d.body.instances.instance[0];
    const ips = inst && inst.vpcAttributes.privateIpAddress.ipAddress;
    if (ips && ips.length) {
      out.privateIps = ips;
      out.publicIps = inst.publicIpAddress.ipAddress;
      out.status = inst.status;
      out.tags = inst.tags.tag.map((t) => t.tagKey + '=' + t.tagValue);
      break;
    }
  }
  await client.deleteInstance(new Ecs.DeleteInstanceRequest({ instanceId: id, force: true }));
  out.deleted = true;
  try {
    await client.deleteInstance(new Ecs.DeleteInstanceRequest({ instanceId: id, force: true }));
    out.secondDelete = 'succeeded';
  } catch (e) {
    out.secondDelete = { code: e.code, statusCode: e.statusCode, name: e.name };
  }
  try {
    await client.describeInstanceTypes(new Ecs.DescribeInstanceTypesRequest(
        { instanceTypes: ['ecs.g8i.xlarge'] }));
    out.throttled = 'succeeded';
  } catch (e) {
    out.throttled = { code: e.code, statusCode: e.statusCode, name: e.name };
  }
  process.stdout.write(JSON.stringify(out));
}

(async () => {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'sign') return sign(args[0]);
  if (mode === 'calls') return calls(...args);
  throw new Error('usage: sdk_judge.js sign <file> | calls <endpoint> <region> <ak> <sk> [token]');
})().catch((e) => {
  process.stderr.write('sdk_judge: ' + (e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
