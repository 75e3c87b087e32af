#!/bin/sh
# prebuildify drives node-gyp; onestep builds with cmake-js. prebuildify calls this instead
# (`node-gyp rebuild --target=… --release`); the Node-API build does not depend on the target.
exec node "$(dirname "$0")/../../node_modules/cmake-js/bin/cmake-js" build --out build
