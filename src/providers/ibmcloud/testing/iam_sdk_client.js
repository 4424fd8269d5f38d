// Gets bearer tokens from an IAM token endpoint with IBM's own Node SDK core
// (ibm-cloud-sdk-core): IamAuthenticator (API key) and ContainerAuthenticator (trusted profile
// with a compute-resource token file). Used by iam_sdk_test.cc against the fake IAM.
// Usage: node iam_sdk_client.js <iam url> <api key> <cr token file> <profile id>
// Prints one JSON object: {"apikey": "<Authorization header>", "container": "<...>"}, or
// {"error": "..."} and exits 1.
'use strict';

async function header(authenticator) {
  const options = {headers: {}};
  await authenticator.authenticate(options);
  return options.headers.Authorization || '';
}

async function main() {
  const [url, apikey, crTokenFilename, iamProfileId] = process.argv.slice(2);
  const core = require('ibm-cloud-sdk-core');
  const out = {};
  out.apikey = await header(new core.IamAuthenticator({apikey, url}));
  out.container =
      await header(new core.ContainerAuthenticator({crTokenFilename, iamProfileId, url}));
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({error: String(err && err.message || err)}) + '\n');
  process.exit(1);
});
