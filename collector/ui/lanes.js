// lanes.js
