// overview.js
