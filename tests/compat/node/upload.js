// Drives the official npm `mparticle` SDK (unchanged but for basePath) against Fermion.
// Usage: node upload.js <baseUrl> <key> <secret> <customerId>; prints JSON statuses.
const mParticle = require('mparticle');
const [baseUrl, key, secret, customer] = process.argv.slice(2);
const client = new mParticle.ApiClient();
client.basePath = baseUrl + '/v2';
const api = new mParticle.EventsApi(new mParticle.Configuration(key, secret), client);

function makeBatch(suffix) {
  const batch = new mParticle.Batch(mParticle.Batch.Environment.development);
  batch.user_identities = new mParticle.UserIdentities();
  batch.user_identities.customerid = customer + suffix;
  batch.user_attributes = {'hair color': 'brown'};
  const event = new mParticle.AppEvent(mParticle.AppEvent.CustomEventType.navigation, 'Hello World');
  event.custom_attributes = {foo: 'bar'};
  event.timestamp_unixtime_ms = 1600000000000;
  batch.addEvent(event);
  const product = new mParticle.Product();
  product.name = 'Example Product';
  product.id = 'sample-sku';
  product.price = 19.99;
  const action = new mParticle.ProductAction('purchase');
  action.products = [product];
  action.total_amount = 21.49;
  const commerce = new mParticle.CommerceEvent();
  commerce.product_action = action;
  commerce.timestamp_unixtime_ms = 1600000000100;
  batch.addEvent(commerce);
  return batch;
}

const results = {};
api.uploadEvents(makeBatch('-single'), (err, data, resp) => {
  results.single = resp ? resp.status : (err && err.status);
  api.bulkUploadEvents([makeBatch('-bulk1'), makeBatch('-bulk2')], (err2, data2, resp2) => {
    results.bulk = resp2 ? resp2.status : (err2 && err2.status);
    const bad = new mParticle.EventsApi(new mParticle.Configuration(key, 'wrong'), client);
    bad.uploadEvents(makeBatch('-bad'), (err3) => {
      results.wrong_secret = err3 && err3.status;
      console.log(JSON.stringify(results));
    });
  });
});
