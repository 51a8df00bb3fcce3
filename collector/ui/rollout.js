// rollout.js
